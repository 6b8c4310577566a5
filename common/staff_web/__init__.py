"""The staff web console's machinery, shared by every console the project serves (the wing
gateway's, gateway/console/, and the prison service's, prison/console/): accounts (argon2id, TOTP,
lockout) over a small storage protocol, server-side sessions, CSRF, sign-in and password change,
security headers, template rendering and the HTTPS server. Each console brings its own store, its
own table of rights and its own pages."""
