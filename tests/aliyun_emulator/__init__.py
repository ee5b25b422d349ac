"""A loopback emulator of the Alibaba Cloud OpenAPI (RPC style, signature V1) for the products this
project deploys to: CDN (Cdn 2018-05-10), DCDN (dcdn 2018-01-15), API Gateway (CloudAPI 2016-07-14),
the SSL Certificates Service (cas 2020-04-07), Alibaba Cloud DNS (Alidns 2015-01-09), CLB (Slb 2014-05-15:
server certificates, HTTPS listeners, domain extensions; seed with products.clb.ClbAdmin) and ALB
(Alb 2020-06-16: listeners, additional certificates, asynchronous jobs; products.alb.AlbAdmin), plus the
Security Token Service (Sts 2015-04-01: AssumeRole, AssumeRoleWithOIDC; roles seeded with
``emu.add_role``, tokens aged with ``emu.advance_sts_clock``, expired ones refused). Parameters
may come in the URL query or the POST form body (both signed). Products that are not RPC (REST:
addressed by method and path, with their own signature and answer shape) sit in products.REST and
run through rest.RestPipeline; each module's docstring says what it serves. Drive it with the real
legacy SDK:

    from tests.aliyun_emulator import Emulator, EmulatorConfig
    emu = Emulator(EmulatorConfig(accounts={"testak": "testsecret"})).start()
    emu.add_cdn_domain("cdn1.example.test")
    client = AcsClient("testak", "testsecret", "cn-hangzhou", auto_retry=False,
                       proxy={"http": None, "https": None})
    req = SetCdnDomainSSLCertificateRequest(); req.set_endpoint(emu.endpoint); ...
    emu.stop()

Strict by default where the reference leaves a fact open (issue 11): one account-wide certificate-name
registry for CAS, CDN and DCDN uploads; identical content under a new name refused; CDN/DCDN by CAS
reference; wildcard accelerated domains named ``.example.test``; regional API Gateway groups; a GET
carrying an API Gateway private key refused; ``emu.calls.key_in_query()`` lists requests whose URL
query carried key material. Each strict reading has an EmulatorConfig switch (see config.py).

Modules: config (EmulatorConfig, default tables), signature (V1 algorithm), auth (keys, STS, timestamp,
nonce), ratelimit (QPS), faults (random faults, failing domains, write overlap), certs (upload checks),
certstore (CAS certificates and the name registry), lag (listings that trail writes), state (resources),
products/* (one module per product), challtestsrv (TXT mirror), calllog, keywatch (key material in URL
queries), server (HTTP + pipeline), rest (the pipeline for REST products), emulator (public API), testcerts (certificates for tests), __main__
(standalone).
"""

from .calllog import CallList, CallRecord
from .config import DEFAULT_QPS, FAULT_KINDS, EmulatorConfig
from .emulator import Emulator

__all__ = ["CallList", "CallRecord", "DEFAULT_QPS", "Emulator", "EmulatorConfig", "FAULT_KINDS"]
