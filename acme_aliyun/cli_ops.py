"""CLI verbs for certificates and the cloud: issue, status, revoke, deploy, run, cloud check."""


def add_commands(sub):
    return sub
