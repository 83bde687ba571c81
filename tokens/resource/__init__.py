"""What another Django/DRF service installs to accept the auth server's access tokens.

Add `"tokens.resource"` to INSTALLED_APPS (not `"tokens"`: none of the auth server's models or
tables are needed), configure `TOKENS_RESOURCE` (see `tokens.resource.conf`) and use
`tokens.resource.authentication.ResourceTokenAuthentication`. Access tokens are verified
offline against the auth server's JWKS; whether their session is still live is asked of the
shared session store (one Redis round trip) or of the introspection endpoint (cached for a few
seconds). See docs/sso.md.
"""
