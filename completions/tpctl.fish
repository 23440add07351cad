complete --keep-order --exclusive --command tpctl --arguments "(COMPLETE=fish tpctl -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
