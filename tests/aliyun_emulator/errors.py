"""OpenAPI error codes the emulator answers with: the ApiError exception and the code catalogue.

Each catalogue entry is ``code -> (HTTP status, Message)``. Entries come from the project reference
(/work/shared/reference/aliyun-openapi.md); those it marks [unverified] (and codes the emulator had to
choose itself) are flagged below. Override any entry with ``EmulatorConfig.error_overrides``.
"""

import uuid


class ApiError(Exception):
    """An error answer: ``code`` plus optional message and HTTP status (else taken from the catalogue)."""

    def __init__(self, code, message=None, http_status=None):
        super().__init__(code)
        self.code = code
        self.message = message
        self.http_status = http_status


def missing(param, dotted):
    """The missing-parameter error: ``<Param>.MissingParameter`` (CDN, DCDN) or ``MissingParameter``."""
    if dotted:
        return ApiError(param + ".MissingParameter", "The %s parameter is required." % param)
    return ApiError("MissingParameter",
                    'The input parameter "%s" that is mandatory for processing this request is not supplied.'
                    % param)


def invalid(param, why=""):
    """A generic InvalidParameter naming the parameter."""
    return ApiError("InvalidParameter", ("The specified parameter %s is invalid. %s" % (param, why)).strip())


def new_request_id():
    """Upper-case UUID, like the real RequestId."""
    return str(uuid.uuid4()).upper()


CATALOGUE = {
    # common gateway errors
    "Throttling.User": (400, "Request was denied due to user flow control."),
    "ServiceUnavailable": (503, "The request has failed due to a temporary failure of the server."),
    "InternalError": (500, "The request processing has failed due to some unknown error."),
    "SignatureDoesNotMatch": (400, "Specified signature is not matched with our calculation."),
    "IncompleteSignature": (400, "The request signature does not conform to Aliyun standards."),  # [unverified]
    "InvalidAccessKeyId.NotFound": (404, "Specified access key is not found."),  # status [unverified]
    "InvalidTimeStamp.Expired": (400, "Specified time stamp or date value is expired."),
    "InvalidTimeStamp.Format": (400, "Specified time stamp or date value is not well formatted."),
    "SignatureNonceUsed": (400, "Specified signature nonce was used already."),
    "InvalidSecurityToken.Expired": (400, "Specified SecurityToken is expired."),
    "InvalidSecurityToken.Malformed": (400, "Specified SecurityToken is malformed."),
    "InvalidSecurityToken.MismatchWithAccessKey": (400, "Specified SecurityToken mismatch with the AccessKey."),
    "MissingParameter": (400, "A required parameter is missing."),
    "InvalidParameter": (400, "The specified parameter is invalid."),
    "InvalidAction.NotFound": (404, "Specified api is not found, please check your url and method."),
    "InvalidVersion": (400, "Specified parameter Version is not valid."),
    # CDN / DCDN
    "InvalidDomain.NotFound": (404, "The domain provided does not belong to you."),
    "InvalidDomain.Offline": (400, "The domain provided is offline."),
    "InvalidSSLProtocol.ValueNotSupported": (400, "The specified SSLProtocol is invalid."),
    "InvalidSSLPub": (400, "The specified SSLPub is invalid."),
    "InvalidSSLPri": (400, "The specified SSLPri is invalid."),
    "Certificate.MissMatch": (400, "The SSLPri does not match the certificate."),
    "Certificate.Expired": (400, "The certificate has expired."),
    "Certificate.FormatError": (400, "The format of the certificate is invalid."),
    "Certificate.Duplicated": (400, "The certificate name already exists."),
    "CertificateContent.Duplicated": (400, "The certificate has been uploaded; do not upload again."),
    "Certificate.NotFind": (400, "The certificate does not exist."),
    "InvalidCertName.TooLong": (400, "The length of the certificate name cannot exceed 128 characters."),
    "CertName.MissingParameter": (404, "You must specify CertName."),
    "Abs.CertRegion.ValueNotSupported": (400, "CertRegion is not supported."),
    "InvalidEnv": (400, "The specified Env is invalid."),
    "SetDomainCertificate.ParameterError": (400, "The specified parameters are invalid."),
    "NoHttpsDomain": (400, "Your account does not have any HTTPS domain."),
    # CloudAPI (codes after NotFoundApiGroup are the emulator's choice, [unverified])
    "UnsupportedHTTPMethod": (400, "This http method is not supported."),  # [assumed]
    "NotFoundApiGroup": (404, "The specified API group does not exist."),  # status [unverified]
    "NotFoundDomain": (404, "The specified domain name is not bound to the API group."),  # [3rd-party]
    "InvalidParameter.Certificate": (400, "The certificate is invalid."),
    "InvalidParameter.CertificatePrivateKey": (400, "The private key of the certificate is invalid."),
    "InvalidParameter.CertificateNotMatch": (400, "The private key does not match the certificate."),
    "InvalidParameter.CertificateExpired": (400, "The certificate has expired."),
    "InvalidParameter.CertificateDomainNotMatch": (400, "The certificate does not cover the domain name."),
    # CAS (codes the emulator chose: no document names them, [assumed])
    "NameRepeat": (400, "名称重复，请重新输入。"),
    "NotFound": (404, "The certificate does not exist."),
    "CertificateInUse": (400, "The certificate is in use by a cloud product and cannot be deleted."),
    # Alidns
    "InvalidDomainName.NoExist": (400, "The specified domain name does not exist. Refresh the page and try again."),
    "DomainRecordDuplicate": (400, "The DNS record already exists."),
    "DomainRecordConflict": (400, "The DNS record conflicts with other records."),
    "DomainRecordNotBelongToUser": (400, "The DNS record does not belong to the current user."),
    "LastOperationNotFinished": (400, "Last operation is not finished, please try again later."),
    "QuotaExceeded.TTL": (400, "The TTL value is less than the minimum value allowed."),
    "SubDomainInvalid.Value": (400, "The specified SubDomain is not in the domain."),
}
