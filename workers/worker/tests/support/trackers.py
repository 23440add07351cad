"""Stand-ins for the issue trackers the sync worker talks to, which cannot run here: Jira Cloud
(REST v3, Basic email:token), Jira Server (REST v2, Bearer PAT), Atlassian's OAuth 2.0 (3LO)
token and accessible-resources endpoints with the Cloud API behind api.atlassian.com, GitHub
(REST v3, `token` PATs, User-Agent required, rate-limit headers) and Azure DevOps (api-version
7.0, Basic ":PAT"). Paths, query strings, auth headers and bodies follow the public API
references; issues are generated from their key or number.

Prefixes: /jira, /jiraserver, /atlassian (API), /atlassian-auth (token), /github, /azure/acme.
Control: POST /_control/fault {match, status?, headers?, body?, times?, delay?, drop?} makes the next
requests whose path contains `match` answer so; GET /_control/log lists every request with
its arrival time; POST /_control/reset clears faults and the log.

usage: trackers.py [DELAY_MS]   (prints the port it listens on, then serves)
"""

import base64
import json
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DELAY = (float(sys.argv[1]) if len(sys.argv) > 1 else 0.0) / 1000.0

JIRA_BASIC = "Basic " + base64.b64encode(b"ada@example.com:jira-token").decode()
JIRA_SERVER_BEARER = "Bearer server-pat"
GITHUB_TOKEN = "token gh-pat"
AZURE_BASIC = "Basic " + base64.b64encode(b":az-pat").decode()
CLIENT_ID, CLIENT_SECRET = "cid", "csecret"
CLOUD_ID = "11223344-a1b2-3b33-c444-def123456789"

lock = threading.Lock()
state = {"access": "access-1", "refresh": "refresh-1", "renewals": 0}
faults = []
log = []


def adf(key):
    t = lambda s, marks=None: dict({"type": "text", "text": s}, **({"marks": marks} if marks else {}))
    return {"type": "doc", "version": 1, "content": [
        {"type": "heading", "attrs": {"level": 2}, "content": [t("Steps for " + key)]},
        {"type": "paragraph", "content": [t("Pay with "), t("card", [{"type": "strong"}]), {"type": "hardBreak"},
                                          t("docs", [{"type": "link", "attrs": {"href": "https://docs.example/a?b=1&c=2"}}])]},
        {"type": "bulletList", "content": [{"type": "listItem", "content": [{"type": "paragraph", "content": [t("open <checkout>")]}]}]},
        {"type": "codeBlock", "attrs": {"language": "js"}, "content": [t("if (a < b) pay();")]},
        {"type": "paragraph", "content": [{"type": "mention", "attrs": {"id": "5b10", "text": "@Ada"}},
                                          {"type": "emoji", "attrs": {"shortName": ":tada:", "text": "🎉"}}]},
        {"type": "table", "content": [{"type": "tableRow", "content": [
            {"type": "tableHeader", "content": [{"type": "paragraph", "content": [t("Card")]}]},
            {"type": "tableCell", "content": [{"type": "paragraph", "content": [t("Visa")]}]}]}]},
    ]}


def jira_issue(base, api, key, n, server):
    fields = {
        "summary": "Summary of " + key,
        "status": {"self": base + "/rest/api/%s/status/3" % api, "name": "In Progress", "id": "3"},
        "priority": {"name": "High", "id": "2"},
        "issuetype": {"id": "10004", "name": "Bug", "iconUrl": base + "/images/bug.svg", "subtask": False},
        "labels": ["payments", "n%d" % n],
        "customfield_10020": [{"id": 4, "name": "Sprint 4", "state": "active"}],
        "customfield_10030": None,
        "created": "2024-01-15T10:30:00.000+0000",
        "updated": "2024-01-16T11:00:00.000+0100",
    }
    if server:
        fields["description"] = "h1. Steps for %s\n*bold*" % key
        fields["assignee"] = {"key": "JIRAUSER10100", "name": "ada", "displayName": "Ada Lovelace", "emailAddress": "ada@example.com"}
    else:
        fields["description"] = adf(key)
        fields["assignee"] = {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Ada Lovelace",
                              "emailAddress": "ada@example.com", "active": True}
        fields["reporter"] = {"accountId": "5b10ac8d82e05b22cc7d4ef6", "displayName": "Bob"}
    iid = str(10000 + n)
    return {"expand": "renderedFields,names,schema", "id": iid, "key": key,
            "self": "%s/rest/api/%s/issue/%s" % (base, api, iid),
            "names": {"summary": "Summary"}, "schema": {"summary": {"type": "string"}}, "fields": fields}


def jira_key(ident):
    m = re.fullmatch(r"([A-Z][A-Z0-9]*)-(\d+)", ident)
    if m:
        return ident, int(m.group(2))
    if ident.isdigit() and int(ident) > 10000:
        return "PAY-%d" % (int(ident) - 10000), int(ident) - 10000
    return None, None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle's algorithm holds the
    # body back for the client's delayed ACK (40 ms per answer).
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    def send(self, status, body, headers=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def handle_any(self):
        u = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path, query = u.path, parse_qs(u.query, keep_blank_values=True)
        if path.startswith("/_control/"):
            return self.control(path, raw)
        entry = {"t": time.time(), "method": self.command, "path": path, "query": u.query,
                 "auth": self.headers.get("Authorization"), "ua": self.headers.get("User-Agent"),
                 "accept": self.headers.get("Accept")}
        with lock:
            log.append(entry)
            fault = next((f for f in faults if f["match"] in path and f.get("times", 1) > 0), None)
            if fault:
                fault["times"] = fault.get("times", 1) - 1
        if DELAY:
            time.sleep(DELAY)
        if fault:
            time.sleep(fault.get("delay", 0))
            if fault.get("drop"):
                # The connection closes with no answer at all.
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault.get("status"):
                return self.send(fault["status"], fault.get("body"), fault.get("headers"))
        host = "http://" + self.headers.get("Host", "127.0.0.1")
        auth = self.headers.get("Authorization")
        body = json.loads(raw) if raw else None
        try:
            return self.route(host, path, query, auth, body)
        except BrokenPipeError:
            pass

    def control(self, path, raw):
        with lock:
            if path == "/_control/fault":
                faults.append(json.loads(raw))
                return self.send(200, {"ok": True})
            if path == "/_control/log":
                return self.send(200, list(log))
            if path == "/_control/state":
                return self.send(200, dict(state))
            if path == "/_control/reset":
                faults.clear()
                log.clear()
                return self.send(200, {"ok": True})
        self.send(404, {"message": "no such control"})

    def route(self, host, path, query, auth, body):
        unauth = {"errorMessages": ["Client must be authenticated to access this resource."], "errors": {}}
        # Jira Cloud (API token) and Jira Server/Data Center (PAT).
        for prefix, api, expected, server in (("/jira", "3", JIRA_BASIC, False),
                                              ("/jiraserver", "2", JIRA_SERVER_BEARER, True)):
            rest = "%s/rest/api/%s/" % (prefix, api)
            if path.startswith(rest):
                if auth != expected:
                    return self.send(401, unauth)
                return self.jira(host + prefix, api, path[len(rest):], query, server)
        # Atlassian OAuth: token endpoint, accessible resources, and the Cloud API through it.
        if path == "/atlassian-auth/oauth/token":
            with lock:
                ok = (body or {}).get("grant_type") == "refresh_token" and body.get("client_id") == CLIENT_ID \
                    and body.get("client_secret") == CLIENT_SECRET and body.get("refresh_token") == state["refresh"]
                if not ok:
                    return self.send(403, {"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."})
                state["renewals"] += 1
                state["access"] = "access-%d" % (state["renewals"] + 1)
                state["refresh"] = "refresh-%d" % (state["renewals"] + 1)
                answer = {"access_token": state["access"], "refresh_token": state["refresh"], "expires_in": 3600,
                          "token_type": "Bearer", "scope": "read:jira-work offline_access"}
            return self.send(200, answer)
        if path.startswith("/atlassian/"):
            with lock:
                current = "Bearer " + state["access"]
            if auth != current:
                return self.send(401, {"code": 401, "message": "Unauthorized"})
            if path == "/atlassian/oauth/token/accessible-resources":
                return self.send(200, [{"id": CLOUD_ID, "url": "https://acme.atlassian.net", "name": "acme",
                                        "scopes": ["read:jira-work"], "avatarUrl": "https://x/a.png"}])
            rest = "/atlassian/ex/jira/%s/rest/api/3/" % CLOUD_ID
            if path.startswith(rest):
                return self.jira(host + "/atlassian/ex/jira/" + CLOUD_ID, "3", path[len(rest):], query, False)
        if path.startswith("/github/"):
            return self.github(host + "/github", path[len("/github"):], auth)
        if path.startswith("/azure/acme/"):
            if auth != AZURE_BASIC:
                return self.send(401, None)
            return self.azure(host + "/azure/acme", path[len("/azure/acme"):], query)
        self.send(404, {"message": "Not Found"})

    def jira(self, base, api, rest, query, server):
        if rest == "myself":
            return self.send(200, {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Ada Lovelace"})
        if rest == "project/search":
            return self.send(200, {"isLast": True, "values": [{"id": "10000", "key": "PAY", "name": "Payments"}]})
        m = re.fullmatch(r"issue/([^/]+)", rest)
        if m:
            if query.get("fields") != ["summary,description,status,priority,issuetype,assignee,reporter,labels,created,updated"] \
                    or query.get("expand") != ["names,schema"]:
                return self.send(400, {"errorMessages": ["unexpected query"], "errors": {}})
            key, n = jira_key(m.group(1))
            if key is None or n == 404:
                return self.send(404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}})
            return self.send(200, jira_issue(base, api, key, n, server))
        self.send(404, {"errorMessages": ["no such resource"], "errors": {}})

    def github(self, api, rest, auth):
        if not self.headers.get("User-Agent"):
            return self.send(403, {"message": "Request forbidden by administrative rules. Please make sure your request has a User-Agent header"})
        if auth != GITHUB_TOKEN:
            return self.send(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
        limits = {"x-ratelimit-limit": 5000, "x-ratelimit-remaining": 4999, "x-ratelimit-reset": int(time.time()) + 3600}
        if rest == "/user":
            return self.send(200, {"login": "ada", "id": 1}, limits)
        if rest.startswith("/user/repos"):
            return self.send(200, [{"full_name": "acme/web", "name": "web"}], limits)
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)/issues/(\d+)", rest)
        if m:
            o, r, n = m.group(1), m.group(2), int(m.group(3))
            if n == 404:
                return self.send(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest/issues"}, limits)
            return self.send(200, {
                "id": 1000 + n, "number": n, "title": "GitHub issue %d" % n,
                "body": None if n == 13 else "Body of **%d**" % n, "state": "open",
                "html_url": "https://github.com/%s/%s/issues/%d" % (o, r, n),
                "repository_url": "%s/repos/%s/%s" % (api, o, r),
                "user": {"login": "ada", "id": 1}, "assignee": {"login": "bob", "id": 2},
                "labels": [{"id": 1, "name": "bug", "color": "d73a4a"}],
                "created_at": "2024-01-15T10:30:00Z", "updated_at": "2024-01-16T10:30:00Z"}, limits)
        self.send(404, {"message": "Not Found"}, limits)

    def azure(self, org, rest, query):
        if query.get("api-version") != ["7.0"]:
            return self.send(400, {"message": "The requested REST API version is not supported."})
        if rest == "/_apis/projects":
            return self.send(200, {"count": 1, "value": [{"id": "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c", "name": "web"}]})
        m = re.fullmatch(r"/_apis/wit/workitems/(\d+)", rest)
        if m:
            if query.get("$expand") != ["all"]:
                return self.send(400, {"message": "expected $expand=all"})
            i = int(m.group(1))
            if i == 404:
                return self.send(404, {"$id": "1", "message": "TF401232: Work item %d does not exist, or you do not have permissions to read it." % i,
                                       "typeName": "Microsoft.TeamFoundation.WorkItemTracking.Server.WorkItemUnauthorizedAccessException"})
            return self.send(200, {
                "id": i, "rev": 3, "url": "%s/_apis/wit/workItems/%d" % (org, i),
                "fields": {"System.Id": i, "System.WorkItemType": "Bug", "System.Title": "Work item %d" % i,
                           "System.State": "Active", "System.Description": "<div>Repro <b>steps</b></div>",
                           "Microsoft.VSTS.Common.Priority": 2,
                           "System.AssignedTo": {"displayName": "Ada Lovelace", "uniqueName": "ada@acme.com", "id": "a1"},
                           "System.CreatedBy": {"displayName": "Bob", "uniqueName": "bob@acme.com", "id": "b1"},
                           "System.Tags": "auth; web", "System.AreaPath": "Acme\\Web", "Custom.Risk": None,
                           "System.CreatedDate": "2024-01-15T10:30:00.12Z", "System.ChangedDate": "2024-01-16T10:30:00Z"},
                "_links": {"html": {"href": "%s/web/_workitems/edit/%d" % (org, i)}}})
        self.send(404, {"message": "not found"})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
