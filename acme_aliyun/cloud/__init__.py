"""Alibaba Cloud side: credentials, the SDK layer, deploy targets and Alibaba Cloud DNS.

Nothing in here knows about ACME; certificates arrive as PEM text.
"""
