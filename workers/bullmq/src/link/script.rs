//! One of our Lua scripts with its keys and arguments, encoded once and sent as EVALSHA,
//! or as EVAL when the server has not cached it (after a restart or SCRIPT FLUSH).

use super::{Link, LinkError, Reply, resp};
use crate::scripts::Lua;

/// A script's keys, encoded (numkeys, then each key): built once for the scripts a worker
/// runs per job.
pub(crate) struct KeyList {
    bytes: Vec<u8>,
    count: usize,
}

impl KeyList {
    /// The keys `<base><name>` for each name (`base` ends with the colon).
    pub(crate) fn new(base: &str, names: &[&str]) -> KeyList {
        let mut bytes = Vec::new();
        names.len().put(&mut bytes);
        for n in names {
            resp::bulk_parts(&mut bytes, &[base.as_bytes(), n.as_bytes()]);
        }
        KeyList {
            bytes,
            count: names.len() + 1,
        }
    }

    /// Keys each given as parts to join.
    pub(crate) fn joined(keys: &[&[&str]]) -> KeyList {
        let mut bytes = Vec::new();
        keys.len().put(&mut bytes);
        for parts in keys {
            let parts: Vec<&[u8]> = parts.iter().map(|p| p.as_bytes()).collect();
            resp::bulk_parts(&mut bytes, &parts);
        }
        KeyList {
            bytes,
            count: keys.len() + 1,
        }
    }
}

/// A script invocation being built: its keys, then arguments.
pub(crate) struct ScriptCall {
    lua: &'static Lua,
    /// numkeys, the keys and the arguments, encoded.
    tail: Vec<u8>,
    /// How many bulk strings `tail` holds.
    count: usize,
}

/// Something that can be a script argument.
pub(crate) trait Arg {
    fn put(&self, out: &mut Vec<u8>);
}

impl Arg for str {
    fn put(&self, out: &mut Vec<u8>) {
        resp::bulk(out, self.as_bytes());
    }
}

impl Arg for String {
    fn put(&self, out: &mut Vec<u8>) {
        resp::bulk(out, self.as_bytes());
    }
}

impl Arg for [u8] {
    fn put(&self, out: &mut Vec<u8>) {
        resp::bulk(out, self);
    }
}

impl<T: Arg + ?Sized> Arg for &T {
    fn put(&self, out: &mut Vec<u8>) {
        (**self).put(out);
    }
}

macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl Arg for $t {
            fn put(&self, out: &mut Vec<u8>) {
                resp::bulk(out, itoa::Buffer::new().format(*self).as_bytes());
            }
        }
    )*};
}
int_arg!(u32, u64, i64, usize);

impl ScriptCall {
    pub(crate) fn new(lua: &'static Lua, keys: &KeyList) -> ScriptCall {
        let mut tail = Vec::with_capacity(keys.bytes.len() + 256);
        tail.extend_from_slice(&keys.bytes);
        ScriptCall {
            lua,
            tail,
            count: keys.count,
        }
    }

    pub(crate) fn arg(&mut self, a: impl Arg) -> &mut Self {
        a.put(&mut self.tail);
        self.count += 1;
        self
    }

    /// Runs it; an error reply is `LinkError::Server`.
    pub(crate) async fn run(&self, link: &Link) -> Result<Reply, LinkError> {
        let mut head = Vec::with_capacity(80);
        resp::array_header(&mut head, self.count + 2);
        resp::bulk(&mut head, b"EVALSHA");
        resp::bulk(&mut head, self.lua.sha().as_bytes());
        let mut reply = link.call(&[&head, &self.tail]).await?;
        if matches!(&reply, Reply::Error(e) if e.starts_with("NOSCRIPT")) {
            head.clear();
            resp::array_header(&mut head, self.count + 2);
            resp::bulk(&mut head, b"EVAL");
            resp::bulk(&mut head, self.lua.code().as_bytes());
            reply = link.call(&[&head, &self.tail]).await?;
        }
        match reply {
            Reply::Error(e) => Err(LinkError::Server(e)),
            r => Ok(r),
        }
    }
}
