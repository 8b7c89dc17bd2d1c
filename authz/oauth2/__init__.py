"""OAuth 2 protocol code, one module per RFC it implements (built on authlib).

authlib's server classes are synchronous: the hub loads every row a request needs with
asyncpg first, hands them in as a ``Preloaded`` snapshot, runs authlib (CPU only, in an
executor because scrypt and signatures are CPU-bound), and persists what the call
recorded (used assertion ``jti``s, revoked tokens) afterwards.
"""
