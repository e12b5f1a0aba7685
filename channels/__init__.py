"""Chat platforms, one module each, on top of the channel seam (scheduler.channel).

Importing this package registers every channel; adding a platform is one module and one
line below (docs/ARCHITECTURE.md, "Adding a channel").
"""

from channels import dingtalk, dingtalk_app, feishu, telegram, wecom  # noqa: F401
