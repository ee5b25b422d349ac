"""acme-aliyun: Let's Encrypt certificates for Alibaba Cloud CDN, DCDN and API Gateway."""

__version__ = "0.1.0"
