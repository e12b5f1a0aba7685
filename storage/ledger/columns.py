"""The ledger's columns: the headers both layouts use, and the export's column order."""

from __future__ import annotations

import re
import unicodedata

from storage.labels import MILESTONE_LABELS

# field -> header names as they are written (compared after `normalize_header`)
ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("项目编号", "编号", "项目代码"),
    "seq": ("序号",),
    "name": ("项目名称",),
    "short_names": ("简称", "项目简称"),
    "district": ("所在地", "所在区域", "建设地点", "所属区域"),
    "period": ("建设期", "建设年限", "建设周期", "建设起止年限"),
    "owner": ("业主单位", "业主单位/牵头单位", "牵头单位", "业主单位(牵头单位)"),
    "departments": ("服务责任部门", "责任部门", "服务责任单位"),
    "city_leaders": ("联系市领导", "市级联系领导", "联系市级领导"),
    "district_leaders": ("联系区领导", "区级联系领导", "联系区级领导"),
    "total": ("总投资",),
    "cumulative": ("累计完成投资", "累计投资"),
    "annual": ("年度计划投资", "年度计划", "年度投资计划"),
    "contacts": (
        "业主联系人", "业主单位联系人", "业主单位/牵头单位联系人及联系方式",
        "业主联系人及联系方式", "业主单位联系人及联系方式",
    ),
    "contact_phones": ("业主联系电话", "业主联系人电话"),
    "service": ("服务责任人", "服务责任单位及联系方式", "服务责任人及联系方式"),
    "service_phones": ("服务责任人电话", "服务责任人联系电话"),
    "notes": ("备注",),
    # computed by the export; read back without complaint and ignored
    "x_stage": ("项目阶段",),
    "x_progress": ("最新形象进度",),
    "x_year_investment": ("本年完成投资",),
    "x_reported_cumulative": ("最新报送累计完成投资",),
    "x_next_milestone": ("下一关键节点",),
    "x_open_issues": ("未办结交办件",),
    "x_open_alerts": ("未关闭预警",),
}
MONEY_FIELDS = ("total", "cumulative", "annual")

# The export's layout: the project's own ledger columns, then the computed ones.
EXPORT_HEADERS: tuple[str, ...] = (
    "项目编号", "项目名称", "简称", "所在地", "建设期", "业主单位", "服务责任部门",
    "联系市领导", "联系区领导", "总投资(亿元)", "累计完成投资(亿元)", "年度计划投资(亿元)",
    "业主联系人", "业主联系电话", "服务责任人", "服务责任人电话", "备注",
    "项目阶段", "最新形象进度", "本年完成投资(亿元)", "最新报送累计完成投资(亿元)", "下一关键节点",
    "未办结交办件", "未关闭预警",
)

_UNIT = re.compile(r"[(（]\s*(亿元|万元|亿|万)\s*[)）]$")


def normalize_header(text: str) -> tuple[str, str | None]:
    """(header without whitespace and unit, unit '亿元' / '万元' or None)."""
    squeezed = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))
    match = _UNIT.search(squeezed)
    unit = None
    if match:
        unit = "万元" if match[1].startswith("万") else "亿元"
        squeezed = squeezed[: match.start()]
    return squeezed, unit


_LOOKUP = {
    re.sub(r"\s+", "", unicodedata.normalize("NFKC", alias)): field
    for field, aliases in ALIASES.items()
    for alias in aliases
}


def field_of(header: str) -> str | None:
    return _LOOKUP.get(normalize_header(header)[0])


# --- milestone files ------------------------------------------------------------------------

MILESTONE_ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("项目编号", "编号"),
    "name": ("项目名称",),
    "node": ("节点", "关键节点", "里程碑"),
    "planned": ("计划日期", "计划完成日期", "计划时间"),
    "seq": ("序号",),
    "notes": ("备注",),
}
_MILESTONE_LOOKUP = {
    unicodedata.normalize("NFKC", alias): field
    for field, aliases in MILESTONE_ALIASES.items()
    for alias in aliases
}


def milestone_field_of(header: str) -> str | None:
    return _MILESTONE_LOOKUP.get(normalize_header(header)[0])


MILESTONE_WORDS: dict[str, str] = {  # what a milestone file may call each milestone
    **{label: code for code, label in MILESTONE_LABELS.items()},
    "取得土地": "land", "投产": "operating",
    "签订投资协议": "signed", "签约落地": "signed",
    "摘牌": "land", "拿地": "land", "土地摘牌": "land", "土地出让": "land", "供地": "land",
    "施工许可证": "permit", "取得施工许可": "permit", "取得施工许可证": "permit",
    "四证齐全": "permit",
    "动工": "started", "破土动工": "started", "进场施工": "started", "新开工": "started",
    "封顶": "topped_out",
    "完工": "completed", "建成": "completed", "竣工": "completed",
    "验收": "accepted", "通过验收": "accepted",
    "试生产": "operating", "投入使用": "operating", "开业": "operating", "运营": "operating",
    "通车": "operating", "投产运营": "operating", "建成投产": "operating",
}
