"""Privacy: PII sealed per field under a per-user data key (keyring, fields), and the
export and erasure of everything held about a user (export, erasure)."""
