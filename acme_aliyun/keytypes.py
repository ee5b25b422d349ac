"""The key types users may configure (KeyType), without importing cryptography."""

KEY_TYPES = ("ec-256", "ec-384", "rsa-2048", "rsa-3072", "rsa-4096")
