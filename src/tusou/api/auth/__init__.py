"""Request authentication: one verifier per signing scheme."""
