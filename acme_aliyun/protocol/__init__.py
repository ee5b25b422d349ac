"""RFC 8555 (ACME) and RFC 9773 (ARI) only: requests + cryptography, nothing of Alibaba Cloud."""
