"""Who is calling: dashboard sign-in (session cookie and CSRF), API bearer
tokens, and the dependencies that let each route say who may call it."""
