"""The words of a notification in English or Chinese ([notify] Language = en | zh-CN).

Only the fixed words are translated; names, domains, error texts and codes stay
as the CA and the cloud gave them, so a message can still be searched for them.
"acme-aliyun" stays in every title: robots whose security setting is a custom
keyword can use it.
"""

from typing import Callable

_ZH = {
    "acme-aliyun: run %(state)s on %(host)s%(dry)s": "acme-aliyun：%(host)s 上的运行%(state)s%(dry)s",
    "FAILED": "失败",
    "OK": "成功",
    " (dry run)": "（演练，未写入）",
    "next renewal": "下次续期",
    "error": "错误",
    "copy failed": "证书副本写入失败",
    "targets": "目标",
    "request": "请求",
    "… and %d more certificates": "……另有 %d 个证书",
    # actions and target states
    "issued": "已签发",
    "renewed": "已续期",
    "unchanged": "未变",
    "deferred": "已推迟",
    "failed": "失败",
    "deployed": "已部署",
    "planned": "计划部署",
    "refused": "被拒绝",
}


Translator = Callable[[str], str]


def translator(language: str) -> Translator:
    """A function that gives the text in `language` (English when unknown)."""
    if (language or "").lower().startswith("zh"):
        return lambda text: _ZH.get(text, text)
    return lambda text: text
