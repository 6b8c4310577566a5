"""The staff web console: real staff accounts (argon2id, TOTP), server-side sessions, one table of
rights checked at the API, and server-rendered pages (FastAPI + Jinja2), each with a JSON twin.

One module per page family (`signin`, `wing`, `audit_page`, `tablet`, `inbox`, `accounts_page`);
`app.make_console_app` composes them. The console is one more client of the gateway's public faces
(like the control API), never of its privates. docs/console.md says how to run it.
"""
