"""Problems and requests for coordination: which clauses state one, and its category.

A clause is a problem when it says something is wrong (困难, 不足, 停工, 缺口, 迟迟 …) or asks
for help (请…协调, 希望…帮助); a bare "not yet" (还没, 尚未) is a problem only when it is about
something the office handles (land, funding, approvals, utilities, construction), so 尚未开工
or 还剩一段未合龙 alone are not. Negated ones (暂无困难, 没有遇到征拆问题) are not issues.
Milestone words are blanked first: 尚未取得施工许可证 is an event, not an approval problem."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nlp.guard import guarded

_NEGATED = re.compile(
    r"(?:暂无|暂时没有|目前没有|没有遇到|未遇到|没有|没啥|没什么|没|并无|无需|无|未发现|不存在)"
    r"[^，,。；;]{0,12}?(?:困难|问题|协调事项|需要协调|需协调|协调)"
    # 国庆期间未停工, 一天也没停工: work went on, which is good news.
    r"|(?:未|没有?|不|从未|一天也没有?)(?:停工|停过工|停产|停过)"
    # 春节放假停工半个月: a routine holiday, nothing to coordinate
    r"|(?:放假|休假|过年|节假日)[^，,。；;]{0,3}(?:停工|停产)|停工(?:放假|过年|过节)"
    r"|正常(?:推进|施工|生产|运行)"
    r"|一切(?:都)?(?:顺利|正常|良好|平稳)|(?:进展|推进|施工|运行|生产)(?:都)?(?:很|较为|比较)?(?:顺利|正常)"
    # 工期没拖了, 从来没拖过: no delay; 决不让问题过夜, 确保不让工期延误: a vow, not a problem.
    r"|(?:没有?|未|不会|不能|从来没有?|从未)(?:再)?(?:往后)?拖"
    r"|(?:确保|保证|(?<![解拒否])[决绝])不(?!了)(?:让|使|会|能)?[^，,。；;]{0,8}?"
    r"(?:延误|拖|过夜|滞后|耽误|影响|问题|停工)|不让(?:问题|矛盾|困难)过夜"
    r"|(?:问题|困难|影响)(?:都)?不大|无大碍|没(?:有)?(?:什么)?大(?:的)?(?:问题|困难)|无异常|没有?异常"
    r"|影响不大|影响较小|没有?(?:什么)?影响|无影响|不影响|(?:没|未|不)(?:有|会)?耽误|(?:未|没|不)受[^，,。；;]{0,6}影响"
    r"|终于"  # 拖了两年终于验收了: over at last
    # 不是工程问题, 不再有需要协调的事项, 有问题随时说: said to be no problem
    r"|不是(?:工程|施工|项目|技术|质量|我们|我方)?(?:上|方面)?(?:的)?问题|不再有"
    r"|有(?:问题|事|困难)(?:随时|及时|再)"
    # 无渗漏, 未发现争议, 防止管网堵塞, 防坍塌检查: none, or guarded against
    r"|(?:无|没有?|未发现|不存在)(?:渗漏|渗水|漏水|争议|纠纷|故障|坍塌|塌方|堵塞|混乱)"
    r"|(?:防止|防范|避免|预防|防)[^，,。；;]{0,8}?(?:堵塞|坍塌|塌方|渗漏|积水|故障|混乱)"
    r"|(?:未|没有?)(?:发现|出现)[^，,。；;]{0,6}?(?:隐患|问题|异常)"
    # a milestone reached a little late (6月28号封顶了，比原计划晚了两个礼拜): done now
    r"|^\s*比(?:原|预期|原定)?(?:计划|预期|预定)?(?:晚|迟)了[^，,。；;还没未]{0,8}$"
    r"|(?:暂时|目前)?(?:没有?|无|不存在)(?:什么)?(?:资金|融资)?压力"
    r"|(?:暂|目前|现在)?不(?:需要?|用)[^，,。；;]{0,4}?协调"
    # 劳务用工已基本满足施工需要: enough of it (无法满足, 不能满足 are problems)
    r"|(?<![不无难未没法])(?:已经?|基本|能够?|可以|完全|均|都)+满足"
    # 节前停工, 春节放假停工: a stop for a holiday is the calendar, not a problem.
    r"|(?:节前|节后|节日|节假日|春节|国庆|元旦|五一|中秋|端午|清明|假期|放假)(?:期间|前|后)?"
    r"(?:放假)?(?:停工|停产|休息)"
)
_STRONG = re.compile(
    r"困难|问题|不足|难(?!度)|紧张|不一致|需求大|拖欠|供应不上|跟不上|缺少|缺乏|缺口|偏慢|较慢|慢"
    r"|滞后|停工|停了|影响|迟迟|卡在|补办|着急|上涨|涨价|矛盾|纠纷|阻工|不到位|不方便|受阻|无法|不够"
    r"|放缓|延缓|停滞|搁置|停止供货|断供|供货不及时|暂停|中暑|受伤|偏紧|紧缺|吃紧"
    r"|不稳定?|不畅|不通|不及时|短缺|困扰|隐患|投诉|超期|延误|延迟|压力大|压力较大"
    # 审批流程较长, 办理周期长: a slow procedure
    r"|(?:流程|周期|时间|耗时|程序)(?:较|太|过|很|比较|偏|特别)?长"
    # Said indirectly: waiting for someone, papers missing, held up at a step.
    r"|(?:还|仍|正|一直)?在等|等待|等着|等候|还要等|需要?等|还得等|等了"
    r"|不齐|(?:没|未)(?:弄|备|准备|收|凑)?齐|不全|不完整|不完善|欠缺|缺(?=[^，,。；;]{0,4}(?:资料|材料|证明|文件|手续|图纸|指标))"
    r"|批不下来|没批下来|未批下来|下不来|办不下来|推不动|走不动|压着|搁着|停在"
    r"|难度(?:很|较|比较)?大|(?:很|太|较|比较|非常)紧|紧迫|招不到|招不上|不好招|招工难"
    # Said in speech: 设备到货晚了, 下雨耽误了几天, 钢材涨了.
    r"|晚了|耽误|(?:没|未)到货|到货(?:晚|慢|迟)|涨了"
    # and on the phone: 钱还没拨到位, 有点紧, 工程款拖了两个月, 不肯搬, 不准施工
    r"|有点紧|有些紧|拖了|缓一缓|放一放|过不来|来不了|不肯|不愿意?|欠(?=[^，,。；;]{0,6}(?:工资|款|钱))"
    r"|钉子户|(?:还有|尚有|仍有|还差)[\d一二两三四五六七八九十几]+(?:户|亩|处|家|栋|间)"
    # 不准施工, 不让进场: work forbidden (测量数据不准 is inaccurate; 决不让 is a vow)
    r"|(?<!确保)(?<!保证)(?<![决绝])不[准让][^，,。；;]{0,4}?(?:施工|进场|开工|动工|作业|干活|开挖|生产|\s{2})"
    r"|有(?:一定|些|点|很大)?(?:的)?难度"
    # blocked or left hanging: 进不了大车, 没着落, 一直没回复, 排不过来, 卡住了, 被公交站挡住
    r"|(?:进|出|过)不[了来去]|没(?:有)?着落|没(?:有)?动静|没(?:有)?回复|不回复"
    r"|排不过来|排不上|挡住|卡住|卡着|卡壳|对不上|谈不拢|停着|停摆|没排上|要排队|在排队"
    # shorthand: 征地剩12户, 待协调, 劳务紧, 电还没通
    r"|剩[\d一二两三四五六七八九十几]+(?:户|亩|处|家)|待协调|(?<=[务金料])紧"
    r"|缺(?=[\d一二两三四五六七八九十几]{1,3}多?人)|还缺|因雨|因[^，,。；;]{1,8}?(?:推迟|延期|延后|停工)"
    # goods late (到港推迟, 延期交货), work stopped for a while (停止高处作业), said short
    r"|(?:到港|到货|交货|供货|发货)[^，,。；;]{0,2}?(?:推迟|延期|延迟)|(?:延期|推迟)交货"
    r"|停止[^，,。；;]{1,3}?(?:作业|施工)|人手(?:紧|不够|不足|短缺)|有点悬|悬了|卡脖子"
    # 等规划许可, 等供电公司方案 (not 等下回你, 等回复: a moment, an answer)
    r"|(?<![\u4e00-\u9fff])等(?=[\u4e00-\u9fff]{0,6}?(?:许可|批|方案|资金|款|审|证|图纸|手续"
    r"|指标|设备|供电|用电|通电|通水|燃气))|(?<![\u4e00-\u9fff])拖(?![\u4e00-\u9fff])"
    r"|[拨批办发修装接付给]不(?:了|下来|出来|到位)"
    # a site log's words: 室外停止作业, 高空作业全部停止, 吊装暂缓, 涨得厉害, 断断续续, 整改意见
    r"|停止(?:作业|施工|浇筑|生产|吊装|爆破)|(?:作业|施工|浇筑|吊装)[^，,。；;]{0,4}?停止"
    r"|暂缓|涨得|涨幅|断断续续|只到了|整改意见|要求整改|限期整改"
    # disputes and defects: 跟房东扯皮, 边界有争议, 通道渗水, 施工单位还在闹, 遇到溶洞
    # (闹市, 热闹 are no trouble)
    r"|扯皮|争议|渗水|漏水|渗漏|溶洞|(?:还在|又在|一直|又)闹(?!市)|(?<!热)闹了|闹事|流失|人少了"
    # 配套款只到了4000万, 进场道路局部塌方, 工期要往后拖, 渣土没地方倒
    r"|(?:只|仅)(?:拨|来)了|(?:只|仅)到位|塌方|滑坡|往后拖|要拖|没地方|没处"
    # 一直没排期, 协议没签下来, 还是等挂牌, 现场有点乱
    r"|一直(?:没|未)(?:有)?(?:排期|回复|批|下来|到位|动静|消息|进展|落实|安排|答复)"
    r"|(?:没|未)签下来|签不下来|还是等|只能等|有点乱|(?:很|较|比较)乱"
    # 40亩地没征下来, 人员没到位, 合同签不了, 管网堵塞, 塔吊坏了, 设备故障
    r"|没征(?!求)|征不下来|(?:没|未)到位|签不了|堵塞|被堵|堵了"
    r"|(?:塔吊|设备|机器|吊车|泵|管道|线路|机械|车辆?)[^，,。；;]{0,2}坏了|(?<![零无])故障|损坏"
    # 第二批还没消息, 剩最后一户, 雨水太多
    r"|没(?:有)?消息|剩最后[一两\d]*(?:户|家|处|亩|栋)"
    r"|(?:雨|雨水|雨天|降雨)[^，,。；;]{0,2}(?:太多|过多|不断)"
    # waiting said in speech: 要等停电窗口, 等不了, 协调不下来, 准运证还没办下来, 消防设施要补
    r"|要等(?=[^，,。；;]{0,8}?(?:部门|局|公司|窗口|批|审|核查|核实|方案|政府|中心|办|许可))"
    r"|等不了|协调不(?:下来|了|动)|没(?:有)?办下来"
    r"|[还要需]要?补(?=办|交|材料|资料|手续|证|件|设施|齐|\s*$)"
)
_WHEN = re.compile(r"时间|日期|节点|工期")
# Any word that could make a clause a problem or a request: a message without one has none.
_ANY_PROBLEM = re.compile(
    r"困难|问题|不|难|紧|缺|拖|跟不上|慢|滞后|停|影响|迟迟|卡|补办|着急|涨|矛盾|纠纷|阻|受阻|无法|放缓"
    r"|延|搁置|断供|暂停|中暑|受伤|吃紧|困扰|隐患|投诉|超期|压力|等|欠|批|下不来|推不动|走不动|压着|搁着"
    # (words the rules above need that 不, 没 and 未 do not already bring)
    r"|扯皮|争议|渗|漏|溶洞|闹|流失|人少|补|剩|太多|过多|只|仅|塌|滑坡|乱|堵|坏|故障|损坏"
    r"|还没|还未|尚未|暂未|未|没|还剩|钉子户|还有|尚有|仍有|需|仍|正在办理|还在|协调|帮|协助|支持|配合|跟进|加快|对接|解决|督促"
    r"|加大|推动|定|明确|拍板|悬|结论|意见|晚|耽误|到货|主要|原因|由于|因|催|过问|介入|出面|缓一缓|放一放"
)
# A decision not yet made is a problem, unless it is a milestone's date (开工时间待定).
_UNDECIDED = re.compile(
    r"没(?:有)?定|未定|(?:还没|尚未|没有|未)(?:确定|明确|决定|敲定|定下来|拍板|批复)|没拍板|待定"
    r"|悬而未决|没有?(?:定论|结论)|意见不(?:一|统一)|未决"
)
_REQUEST = re.compile(
    r"(?:请|恳请|希望|急需|需要?|麻烦|请求|建议|盼|求)[^，,。；;]{0,14}?"
    r"(?:协调|帮忙|帮助|协助|支持|配合|跟进|加快|对接|解决|督促|加大|推动|催|过问|介入|出面)"
)
# 征拆问题已经解决, 供电问题已协调解决: reported as settled, unless something is still open.
_RESOLVED = re.compile(r"已(?:经)?(?:协调|全部|基本)?(?:解决|落实|化解|消除|到位|办结|理顺|缓解"
                       r"|处理完|处理好|妥善处理|发了|发放|付清|结清|兑现|拨付|到账|获批|批复|批"
                       r"|修好|修复|疏通|排除|补齐|签约|搬走|搬迁|拆除|腾空)"
                       # a supervision item closed: 已全部整改到位, 已闭环, 已办结, 可以销号了
                       r"|(?<![未没不尚])(?:整改(?:到位|完毕|完成|完了|好了?)|闭环|办结|销号|沟通好|谈妥)"
                       r"|已(?:经)?处理(?!中)"
                       r"|(?:问题|困难)(?:已经?)?(?:基本|彻底|全部)(?:解决|消除)"
                       # 征地问题已于7月27日协调会上解决
                       r"|已(?:于|在)[^，,。；;]{0,14}?(?:解决|化解|消除)"
                       r"|(?:问题|困难)(?:都|也)?(?:解决|化解|消除)(?:了|(?=\s*(?:[，,。；;！!]|$)))")
_STILL = re.compile(r"还|仍|尚|未|没|但")
# Under way (正在办理土地手续) and, in the same breath, expected to be obtained (预计10月底前拿地):
# a step on course, not a problem (还在办, "still", says it is late). Under way while a later
# step is planned (施工许可证正在办理，力争12月开工): that step waits on it, a problem.
_UNDER_WAY = re.compile(r"(?:正在|还在|仍在|在)(?:办理|办|申请|报批)|办理中|申请中")
_STILL_AT = re.compile(r"[还仍]在")  # 手续还在办: still, later than it should be
_PLAN_NEXT = re.compile(r"\s*(?:预计|计划|力争|争取|有望|将)")
_OBTAIN_SOON = re.compile(
    r"\s*(?:预计|计划|力争|争取|有望|将)[^，,。；;]{0,12}?"
    r"(?:取得|拿到|办结|办完|办好|下证|领证|拿地|摘牌|获批)")


def _course(text: str, blanked: str, clauses: Sequence[tuple[int, int]], i: int) -> str | None:
    """"on" for a step in progress (正在办理, not 还在办) with no later step waiting on it,
    "held" for one under way before another plan, else None."""
    cs, ce = clauses[i]
    found = list(_WEAK.finditer(blanked, cs, ce))
    if not found or not all(_UNDER_WAY.fullmatch(m.group()) for m in found):
        return None
    still = _STILL_AT.search(blanked, cs, ce) is not None
    if i + 1 >= len(clauses) or _SENTENCE_END.search(text, ce, clauses[i + 1][0]):
        return None if still else "on"  # 消防验收正在办理。: in progress, nothing wrong said
    ns, ne = clauses[i + 1]
    if _OBTAIN_SOON.match(text, ns, ne):
        return None if still else "on"
    if _PLAN_NEXT.match(text, ns, ne):
        return "held"
    return None if still else "on"


_CAUSE_LEAD = re.compile(r"\s*(?:因为|由于|因(?![此素]))")
# A reason given right after a delay is the problem behind it.
_REASON = re.compile(r"\s*(?:主要是|主要原因是|原因是|主要因为|由于|因为|因)")
_DELAY = re.compile(r"推迟|延期|延后|顺延|未能|没能|无法|滞后|延误|拖后|晚于"
                    r"|尚未|还未|还没|暂未|仍未")  # (尚未开工，原因是…: why it has not)
_WEAK = re.compile(
    r"还没|还未|尚未|暂未|未能|没能|没有|未|没|还剩|只剩|需要|还需|尚需|仍需|仍未|正在办理"
    r"|(?:还|仍)在[^，,。；;]{1,6}?(?:审查|审批|审核|评审)"  # 还在省厅审查
    r"|(?:还|仍)在[^，,。；;]{0,6}?走[^，,。；;]{0,8}?(?:流程|程序)"
    r"|(?:还|仍)在(?:办理|审批|审查|报批|报建|申报|报审|评审|审核|协调|谈判|走流程|办|走|等|公示|整改|审"
    r"|论证)"
    r"|待[^，,。；;]{0,4}?(?:审批|批复|审核)"
)

_CATEGORIES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("land", re.compile(
        r"征地|拆迁|征拆|用地|清表|征收|(?<![特象])征(?=下来|不下来|不了|完)|(?<!设备)搬迁|边界|拆除|土地|移民|红线|青苗|交地|供地|钉子户"
        r"|[\d一二两三四五六七八九十几]+户(?!村民|居民|群众|人家)|拆|不肯搬|坟|挂牌")),
    # 钢筋工缺口 is short of workers, not of money.
    ("funding", re.compile(
        # (贷款审批 is the bank's approval of a loan: money, not a permit.)
        r"(?:贷款|融资|放款|授信)[^，,。；;]{0,8}?(?:审批|手续)|资金|(?<![工人员力务])缺口"
        r"(?!(?:还有|还差|大概|约|近)?\s*[\d.一二三四五六七八九十百几]+\s*多?\s*"
        r"(?:人|名|个工|吨|亩|台|套|个|方))"
        r"|贷款|续贷|融资|拨付|专项债|财政|放款|银行|金融|资金链|尾款|预算|(?<!审)[未没]拨|拨不"
        r"|进度款|材料款|设备款|货款|流贷|放贷|补贴|补助|奖补|催款|付款|要钱|回购款|回购"
        # 回购款还没到, 配套款没付: money not in
        r"|(?<![贷])款(?=[^，,。；;]{0,4}(?:没|未|不)(?:到|付|拨|给))"
        r"|(?<![价])钱(?!塘)|工程款|拨款")),
    ("approval", re.compile(
        r"审批|环评|手续|规划(?!路)|报建|审查|批复|许可|核实|备案|图审|审图|消防|批文|送审|报审"
        r"|人防|档案|资料|补(?:充)?材料|材料(?=[^，,。；;]{0,4}(?:没齐|不齐|不全|没交))"
        r"|评审|财评|概算|调概|审完|评价|安评|能评|稳评|(?:申报|申请|报批|报送)材料"
        # the tendering platform (公共资源交易中心), a permit for muck trucks
        r"|公共资源交易|准运证|办证|交警|认证|药监|GMP"
        # (a works agreement with another body; 拆迁协议, 征收协议 are land)
        r"|(?<!征收)(?<!拆迁)(?<!补偿)(?<!安置)(?<!投资)协议")),
    ("utilities", re.compile(
        r"水电气|供电|用电|电力|管网|道路|迁改|天然气|燃气|供水|排水|雨污|变电站|电网|杆线|高压线"
        r"|线路|通水|通电|通气|管道|专线|停电|用水|停水|供气|污水|排污|千伏"
        # roads and street works round the site: 规划路没修, 市政路没打通, 公交站, 红绿灯
        r"|规划路|市政路|进场路|便道|(?<![铁公])路(?=[^，,。；;]{0,3}没(?:修|通|打通))"
        r"|(?<![发用供停断充变配水机])电(?=还没|没|未|不通)|送电|增容|支路"
        r"|公交|红绿灯|信号灯|路灯|光缆|通信|自来水|水务|箱涵|电源|负荷|市政(?!府)")),
    ("construction", re.compile(
        r"停工|天气|降雨|下雨|雨季|高温|暴雨|安全|劳务|材料|施工单位|工人|农民工|人员不足|钢材"
        # (天然气价格, 电价: a utility's price, not materials')
        r"|(?<![气电水])价格"
        r"|[工人员力务]缺口|涨价|供货|供应商|钢结构|交货|排产"
        r"|用工|招工|雨天|雨水|大雨|冰冻|寒潮|台风|大风"
        r"|施工人员|工期|塌方|事故|停了|监理|总包|分包|施工方|钢筋工|木工|泥工|机械|设备进场"
        r"|返工|调试人员"
        r"|到货|低温|严寒|冬季施工|雨雪|冰雪|霜冻|砂石|水泥|商砼|混凝土|原材料|建材"
        r"|冻雨|降温|雷雨|雷阵雨|暴雨|台风|到港|滞留|因雨|阴雨"
        r"|(?:天|太|很)热|工资|钢筋|型钢|木材|砌块|沥青|管材|物资|疫情|感染"
        # goods shipped late, earthworks stopped under controls, heat (37度以上), leaks
        r"|发货|土方|管控|室外作业|户外作业|(?<![\d.])[34]\d\s*度|渗水|漏水|堵漏|人少")),
    # Neighbours' complaints are no office's line: other, said by name so that it wins over a
    # construction word beside it (浇混凝土被居民投诉).
    ("other", re.compile(r"投诉|扰民|信访|噪音|市场(?:原因|行情|变化|不好|低迷)")),
)


@dataclass(frozen=True, slots=True)
class IssueMention:
    start: int
    end: int
    category: str
    text: str
    head: int | None = None  # where its section label (需协调事项：) stands, when it has one


# Any category's word: the few characters after a bare "not yet" often hold none.
_ANY_CATEGORY = re.compile("|".join(f"(?:{pattern.pattern})" for _n, pattern in _CATEGORIES))


# Wages unpaid for want of the project's money (不拨款工资就发不出来) are funding; the
# contractor's own money (施工单位资金紧张，工资拖欠) is the site's trouble.
_CONTRACTOR_MONEY = re.compile(
    r"(?:施工单位|施工方|总包|分包|承包商|施工队)[^，,。；;]{0,3}?(?:资金|钱)")
_WAGES = re.compile(r"工资|薪")


def _category(clause: str, anchor: int) -> str | None:
    """The category whose word is closest to the problem word at `anchor`."""
    if not _ANY_CATEGORY.search(clause):
        return None
    best: tuple[int, str] | None = None
    for name, pattern in _CATEGORIES:
        for m in pattern.finditer(clause):
            dist = 0 if m.start() <= anchor < m.end() else min(abs(m.start() - anchor),
                                                                abs(m.end() - anchor))
            if best is None or dist < best[0]:
                best = (dist, name)
    if best is None:
        return None
    if best[1] == "construction" and _WAGES.search(clause) and not _CONTRACTOR_MONEY.search(
            clause) and _FUNDING.search(_WAGES.sub("", clause)):
        return "funding"
    return best[1]


class _Lazy(Sequence[str | None]):
    """A list whose items are computed when first read."""

    def __init__(self, n: int, get: Callable[[int], str | None]) -> None:
        self._n, self._get, self._memo = n, get, {}  # type: dict[int, str | None]

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> str | None:  # type: ignore[override]
        if not 0 <= i < self._n:
            raise IndexError(i)
        if i not in self._memo:
            self._memo[i] = self._get(i)
        return self._memo[i]


def _settled(clause: str) -> bool:
    """No problem here: 暂无困难, 没有影响, 征拆问题已经解决 (unless something is still open)."""
    if _NEGATED.search(clause):
        return True
    resolved = _RESOLVED.search(clause)
    if resolved is None:
        return False
    # Open only if something is said to be open after the resolution (已解决，但还有2户):
    # 扬尘问题（裸土未覆盖）已于7月28日整改到位 is the problem, then its end.
    return _STILL.search(clause, resolved.end()) is None and not (
        _STILL.search(clause) and resolved.start() == 0)


def _neighbour(i: int, cats: Sequence[str | None], items: Sequence[int]) -> str | None:
    """Clause i's own category, else the nearest neighbour's within two clauses of the same
    numbered item ((一)要素保障不足；(二)审批流程较长: the first is not about approvals)."""
    for j in (i, i - 1, i + 1, i - 2, i + 2):
        if 0 <= j < len(cats) and items[j] == items[i] and cats[j] is not None:
            return cats[j]
    return None


# An item of a list written on one line: (一) / ① / 1、 before it, or 一是 / 二是 opening it.
_INLINE_ITEM = re.compile(
    r"[(（][一二三四五六七八九十\d]{1,3}[)）]|[①-⑩]|(?<![\d.])\d{1,2}\s*[、．]")
_ITEM_OPENING = re.compile(r"[一二三四五六七八九十]是")


def _items(text: str, clauses: Sequence[tuple[int, int]]) -> list[int]:
    """Which numbered item each clause belongs to (all 0 when the text numbers none)."""
    out: list[int] = []
    item = 0
    for i, (cs, _ce) in enumerate(clauses):
        if i and (_INLINE_ITEM.search(text, clauses[i - 1][1], cs)
                  or _ITEM_LINE.search(text, clauses[i - 1][1], cs)
                  or _ITEM_OPENING.match(text, cs)):
            item += 1
        out.append(item)
    return out


def _same_sentence(text: str, clauses: Sequence[tuple[int, int]], i: int,
                   cats: Sequence[str | None]) -> str | None:
    """Clause i's category, else that of the clause before or after it when only a comma
    separates them (施工许可证还没拿到，影响开工): never across a ；or a numbered item."""
    if cats[i] is not None:
        return cats[i]
    for j in (i - 1, i + 1):
        if 0 <= j < len(clauses):
            lo, hi = sorted((j, i))
            if not text[clauses[lo][1]:clauses[hi][0]].strip(" ，,"):
                if cats[j] is not None:
                    return cats[j]
    return None


# 已经复工, and for a delay, 已经赶上了 / 已经追回来了: over, nothing to coordinate.
_BACK_TO_WORK = re.compile(r"已(?:经)?(?:全面)?(?:复工|恢复施工|恢复正常|恢复生产|正常施工"
                           r"|赶上|追上|追回|补回|抢回|赶回)")
# A form's problem section: 存在问题, 需协调解决的问题, 存在问题及需协调事项, 困难和建议.
_LABEL = (
    r"(?:(?:存在的?|主要|需要?(?:区里|上级|政府)?协调(?:解决)?的?|遇到的?|当前|目前)?"
    r"(?:问题|困难)(?:清单)?(?:(?:及|和|与)(?:需要?)?(?:协调(?:解决)?的?)?"
    r"(?:问题|困难|事项|建议|诉求|需求))?"
    r"|(?:需要?)?协调(?:解决)?的?事项)")
_LABEL_WORD = re.compile(r"问题|困难|事项|建议")
_SECTION_LABEL = re.compile(_LABEL + r"\s*[:：]"
                            # 三、存在问题 alone on its line, its items below
                            r"|(?:^|(?<=[\n、.．)）】]))[ \t]*" + _LABEL + r"(?=[ \t]*\n)")
# An item of a list under a label: 1. / 2、 / （一） / ① at the start of a line.
_ITEM_LINE = re.compile(
    r"\n[ \t]*(?:\d{1,2}\s*[.．、)）]|[(（][一二三四五六七八九十\d]{1,3}[)）]|[①-⑩])")
_SENTENCE_END = re.compile(r"[。！!？?\n；;]")
# A clause that only announces problems (问题清单, 5月问题更新, 本月有个问题, 问题就一个).
_LEAD_IN = re.compile(
    r"\s*(?:[^，,。；;：:]{0,6}?(?:有个|有一个|还有个|唯一的?|就一个|一个|遇到(?:了|点|一些)?))?"
    r"(?:问题|困难)"
    r"(?:清单|更新|汇总|如下|就一个|有[一两三几]个)?\s*(?:[(（][^)）]{0,8}[)）])?\s*[:：]?\s*"
    r"|\s*[^，,。；;：:]{0,8}?(?:问题|困难)(?:清单|更新|汇总|如下|就一个|有[一两三几]个)"
    r"\s*(?:[(（][^)）]{0,8}[)）])?\s*[:：]?\s*")
# Work that cannot go on, said after what holds it up (…没拆，沥青摊铺没法贯通).
_UNABLE = re.compile(r"[^，,。；;]{0,10}?(?:没法|无法|不能|干不了|做不了)[^，,。；;]{0,6}")
# Work stopped, and the weather said just before it (这几天阴雨，室外管网停了): construction.
_STOPPED = re.compile(r"停(?:了|工|止|下来|摆)")
_WEATHER = re.compile(r"雨|雪|冰冻|寒潮|高温|大风|台风|降温|大雾|雾霾|天气|冻")
# A threat on a condition (工程款再不拨付就要停工): group 1, the condition, names the category.
_IF_NOT = re.compile(r"([^，,。；;]{1,10}?)(?:再|还)?不[^，,。；;]{0,4}?就")
# A new date estimated right after a target said hard (…有难度，估计要到9月中旬), and the words
# that say only that it is hard: together a plan moved, not a problem.
_NEW_DATE = re.compile(r"[，,\s]*(?:估计|预计|争取|力争|可能)[^。；;\n]{0,8}?"
                       r"(?:\d{1,2}\s*月|[一二三四五六七八九十]{1,3}月|明年|下月|下个月)")
_AT_RISK_ONLY = re.compile(r"有(?:一定|些|点|很大)?(?:的)?(?:困难|难度)|难度(?:很|较|比较)?大|难")
_CONSEQUENCE = re.compile(r"\s*(?:进而|从而|并|已)?(?:影响|导致|造成|致使|使得|制约)")
# What a problem shuts out, said after it (道路还没修通，材料车进不来): part of that problem.
# 补偿款未到位，附属工程停工: the work stopped or slowed, said right after the problem that
# stopped it and with no cause of its own (雨, 工人 …), is that problem's consequence.
_RESULT_ONLY = re.compile(r"[^，,。；;]{0,10}?(?:停工|停了|停下来|暂停|停摆|受(?:到)?影响|放慢"
                          r"|拖到|拖后|滞后)[^，,。；;]{0,8}")
_OWN_CAUSE = re.compile(r"雨|雪|天气|高温|汛|冰冻|劳务|工人|工资|农民工|安全|材料|设备|塌|事故"
                        r"|质量|整改|人手|机械|讨薪|欠薪|噪音|投诉|班组|队伍|分包|施工单位|总包|施工方"
                        r"|督查|检查|停电|限电|疫情|考试|中考|高考|会议|管控|环保|期间")
_SHUT_OUT = re.compile(r"[^，,。；;]{0,8}?(?:(?:进|出|过)不[了来去]|绕行|绕道)[^，,。；;]{0,8}")

# 存在问题：无。 / 困难及建议：暂无 — a report form's section saying there is nothing.
_NONE_SECTION = re.compile(
    r"(?:(?:存在的?|主要|遇到的?)?(?:问题|困难|事项)?(?:及|和|与)?(?:问题|困难|事项|建议)|"
    + _LABEL + r")(?:\s*[:：。.]\s*|[ \t]*\n\s*|[ \t]+)(?:无|暂无|没有|暂时没有|无需协调|[—\-/／]+)"
    r"(?=\s*[。.；;\n]|\s*$)"
    # A label standing alone (a column's name, a blank form): nothing was written under it.
    r"|(?:^|(?<=[\n\t]))" + _LABEL + r"\s*[:：]?(?=\s*[。.；;]?\s*(?:\n|$))"
    # (存在问题： then numbered items on the lines below is a section, not a blank.)
    r"(?![ \t]*[。.；;]?[ \t]*\n[ \t]*"
    r"(?:\d{1,2}\s*[.．、)）]|[(（][一二三四五六七八九十\d]{1,3}[)）]|[①-⑩]))"
)
# A section label opening a clause (需协调事项：, 【存在问题】): the issue is what follows it.
_LEAD_LABEL = re.compile(r"[\s—\-•·●▪]*【?\s*" + _LABEL + r"\s*(?:】\s*[:：]?|[:：]|[ \t]+)\s*")
# A cause named in the clause (管网因电力迁改未完成而停工): the problem is the cause.
_CAUSE = re.compile(r"(?:因为|由于|因(?![此素]))([^，,。；;]{2,24}?)(?:而|导致|造成|致使|使得|$)")


# 关于…存在问题的报告 / …的请示 on a line of its own: the title of what follows.
_TITLE = re.compile(
    r"(?:^|(?<=\n))[ \t]*关于[^\n。；;]{2,60}?(?:报告|请示|汇报|说明|函)[ \t]*(?=\n)")


_REPLY_HEAD = re.compile(
    r"(?:关于)?[^，,。；;\n：:]{0,24}?(?:问题|事项|的事)的?(?:督办|交办)?"
    r"(?:回复|答复|办理情况|整改情况|落实情况|情况说明)"
    r"|(?:整改(?:落实)?|办理|落实)情况(?=\s*[:：])|督办(?:事项)?回复|交办(?:事项|件)?办理情况"
    r"|关于[^，,。；;\n：:]{0,20}?问题(?=\s*[。：:])|交办的[^，,。；;\n：:]{0,20}?问题(?=\s*[：:])")


def extract_issues(text: str, clauses: Sequence[tuple[int, int]], blanked: str,
                   event_starts: Sequence[int] = ()) -> list[IssueMention]:
    """Issues in text order. `blanked` is `text` with milestone words replaced by spaces;
    `event_starts` are where milestone words stand (土地尚未摘牌 is the event 摘牌 not done,
    not a land problem, unless something is said to be wrong)."""
    sections: list[tuple[int, int]] = []
    if "关于" in blanked:  # a document's title names its subject (…存在问题的报告), not a problem
        blanked = _TITLE.sub(lambda m: " " * len(m.group()), blanked)
    if "回复" in blanked or "情况" in blanked or "关于" in blanked or "交办" in blanked:
        # a reply's heading names the matter it answers (关于…问题的回复, 整改落实情况：)
        blanked = _REPLY_HEAD.sub(lambda m: " " * len(m.group()), blanked)
    if _LABEL_WORD.search(blanked):  # most messages hold no form: skip the label scans
        blanked = _NONE_SECTION.sub(lambda m: " " * len(m.group()), blanked)
        # A form's label (需协调解决的问题：) is no problem word itself: the items after it are.
        sections = _sections(blanked)
        blanked = _SECTION_LABEL.sub(lambda m: " " * len(m.group()), blanked)
    if not sections and not _ANY_PROBLEM.search(blanked):
        return []
    kinds: list[str] = []  # per clause: problem | request | none
    anchors: list[int | None] = []  # where its problem word stands (None: no category)
    # Categories read with the milestone words left in (施工许可证 → approval, 土地证 → land):
    # the last resort for a problem whose own words name no category (…，影响开工).
    # Both are computed only when asked for: most clauses never need them.
    raw_cats = _Lazy(len(clauses), lambda i: _category(text[clauses[i][0]:clauses[i][1]],
                                                       clauses[i][1] - clauses[i][0]))
    def cat_of(i: int) -> str | None:
        clause = blanked[clauses[i][0]:clauses[i][1]]
        anchor = anchors[i]
        if anchor == -1:  # no problem word: none if it says all is well, else nearest the end
            anchor = None if _settled(clause) else len(clause)
        if anchor is None:
            return None
        if "就" in clause and (cond := _IF_NOT.search(clause)):
            found = _category(cond.group(1), len(cond.group(1)))
            if found is not None:
                return found  # 工程款再不拨付就要停工: the money is the problem
        if ("因" in clause or "由于" in clause) and (cause := _CAUSE.search(clause)):
            # 因电力迁改未完成而停工: what stopped the work is the problem to coordinate.
            found = _category(cause.group(1), len(cause.group(1)))
            if found is not None:
                return found
        return _category(clause, anchor)

    cats = _Lazy(len(clauses), cat_of)
    # A bare "not yet" is about the thing the verb right after it names: 道路那块还没拆完 is
    # land (拆), not utilities (道路).
    verb_after: dict[int, str] = {}
    for ci, (cs, ce) in enumerate(clauses):
        clause = blanked[cs:ce]
        led = ci > 0 and kinds[-1] == "lead" and not _SENTENCE_END.search(
            text, clauses[ci - 1][1], cs)  # 本月有个问题，自来水主管要改线: announced
        if (led or any(cs < hi and lo < ce and _WORDS.search(blanked, max(cs, lo), min(ce, hi))
                       for lo, hi in sections)) and not _settled(clause):
            # Whatever is written under 存在问题 is a problem, said plainly or not
            # (返岗率仅六成, 施工许可证尚未取得).
            kinds.append("problem")
            # (贷款尚未审批: the category nearest its problem word, else nearest the end)
            hit = _WEAK.search(clause) if "未" in clause or "没" in clause else None
            anchors.append(hit.start() if hit is not None else len(clause))
            continue
        if not _ANY_PROBLEM.search(clause) or _LEAD_IN.fullmatch(clause):
            # (问题清单, 本月有个问题: what follows is the problem)
            kinds.append("lead" if _ANY_PROBLEM.search(clause) and not _settled(clause)
                         else "none")  # (目前没有遇到困难 announces nothing)
            anchors.append(len(clause))
            continue
        strong = _STRONG.search(clause)
        if strong is None and _REASON.match(clause) and len(kinds) and _DELAY.search(
                blanked, clauses[len(kinds) - 1][0], clauses[len(kinds) - 1][1]):
            strong = _REASON.match(clause)  # 推迟到12月底，主要是施工单位更换: why it slipped
        if strong is None and ci + 1 < len(clauses) and _CAUSE_LEAD.match(clause) \
                and not _SENTENCE_END.search(text, ce, clauses[ci + 1][0]) \
                and _DELAY.search(blanked, clauses[ci + 1][0], clauses[ci + 1][1]):
            strong = _CAUSE_LEAD.match(clause)  # 因设计变更，原定3月的封顶推迟到4月: the cause
        request = _REQUEST.search(clause)
        weak = _WEAK.search(clause)
        with_event = any(cs <= s < ce for s in event_starts)
        if strong is None and not with_event and not _WHEN.search(text, cs, ce):
            strong = _UNDECIDED.search(clause)
        if (strong or weak or request) is None:
            kinds.append("none")  # (its category, if a neighbour asks, is decided then)
            anchors.append(-1)
            continue
        if _settled(clause) or (with_event and strong is not None and request is None
                                and _AT_RISK_ONLY.fullmatch(strong.group())
                                and _NEW_DATE.match(text, ce)
                                and _category(clause, len(clause)) is None
                                and not _reason_before(text, clauses, ci, cats)):
            # (8月底投入使用有难度，估计要到9月中旬: a target moved, no reason said; without the
            # new date, 本周完成封顶有难度 is a problem to look at)
            kinds.append("none")
            anchors.append(None)
            continue
        anchor = strong or weak or request
        if strong is None and weak is not None:
            if (verb := _category(clause[weak.end():weak.end() + 4], 0)) is not None:
                verb_after[len(anchors)] = verb
        # Without a problem word, the category word nearest the clause's end is the one a
        # following clause (…，进度偏慢) would be about.
        anchors.append(anchor.start() if anchor else len(clause))
        # 因土地出让手续未办完，尚未摘牌: the reason a milestone is held up is the problem.
        because = with_event and _CAUSE_LEAD.match(clause) is not None
        course = _course(text, blanked, clauses, ci) if (
            weak and strong is None and request is None) else None
        if course == "on":
            weak = None
        elif course == "held" and with_event:
            because = True  # 施工许可证还在办，力争12月开工: the start waits on it
        spaced = ci > 0 and not text[clauses[ci - 1][1]:cs].strip(" \t") \
            and clauses[ci - 1][1] < cs  # shorthand: 市政雨污管网 未接通
        if strong or (weak and (not with_event or because) and (
                cats[len(anchors) - 1] or (because and raw_cats[len(anchors) - 1])
                or (spaced and not with_event and cats[ci - 1]))):
            kinds.append("problem")
        elif request:
            kinds.append("request")
        else:
            kinds.append("none")
    out: list[IssueMention] = []
    items = _items(text, clauses)
    out_item = -1  # the numbered item of the last issue found
    for i, kind in enumerate(kinds):
        if kind in ("none", "lead"):
            continue
        if kind == "problem" and i + 1 < len(clauses) and _BACK_TO_WORK.search(
                blanked, clauses[i + 1][0], clauses[i + 1][1]) \
                and not _SENTENCE_END.search(text, clauses[i][1], clauses[i + 1][0]):
            continue  # 下雨停了三天工，今天已经复工了: over, nothing to coordinate
        if kind == "problem" and _settled_after(text, blanked, clauses, i):
            continue  # 之前反映的资金问题，经协调对接了产业基金，已经解决了
        cat = verb_after.get(i) or cats[i]
        if kind == "problem" and i and kinds[i - 1] == "none" and _STOPPED.search(
                blanked, clauses[i][0], clauses[i][1]) and _WEATHER.search(
                blanked, clauses[i - 1][0], clauses[i - 1][1]) and not _SENTENCE_END.search(
                text, clauses[i - 1][1], clauses[i][0]):
            cat = "construction"  # 这几天阴雨，室外管网停了: the weather stopped the work
        if cat is None:
            # Borrow the category of a neighbouring clause (遇到连续强降雨，施工停了一周).
            cat = _neighbour(i, cats, items) or _same_sentence(text, clauses, i, raw_cats)
        cs, ce = clauses[i]
        labelled = _LEAD_LABEL.match(text, cs, ce)
        if labelled is not None and labelled.end() < ce:
            cs = labelled.end()  # a new section's item: never part of the one before
        else:
            labelled = None
        if labelled is None and kind == "request" and out and i and (
                out[-1].end == clauses[i - 1][1]
                or not _SENTENCE_END.search(text, out[-1].end, cs)):
            continue  # the request for help that follows the problem it is about
        category = cat or "other"
        same_item = labelled is None and bool(out) and out_item == items[i]  # 2. is a new item
        adjacent = same_item and i > 0 and out[-1].end == clauses[i - 1][1]
        if same_item and (_CONSEQUENCE.match(blanked, cs) or _SHUT_OUT.fullmatch(
                blanked, cs, ce) or (category in ("construction", "other")
                                     and _UNABLE.fullmatch(blanked, cs, ce)) or (
                adjacent and category in ("construction", "other")
                and out[-1].category not in ("construction", "other")
                and _RESULT_ONLY.fullmatch(blanked, cs, ce)
                and not _OWN_CAUSE.search(blanked, cs, ce))) and (
                adjacent or not _SENTENCE_END.search(text, out[-1].end, cs)):
            # …仍未签约，影响管网施工: what the problem causes is part of that problem, also
            # past a clause between them (征拆滞后，尚有坟墓未迁，影响进场道路施工).
            prev = out[-1]
            out[-1] = IssueMention(prev.start, ce, prev.category, text[prev.start:ce].strip())
            continue
        if adjacent and out[-1].category == category:
            prev = out[-1]
            out[-1] = IssueMention(prev.start, ce, category, text[prev.start:ce].strip())
            continue
        out_item = items[i]
        found = (_two_problems(text, blanked, cs, ce)
                 or [IssueMention(cs, ce, category, text[cs:ce].strip())])
        if labelled is not None:
            found = [dataclasses.replace(f, head=clauses[i][0]) for f in found]
        out.extend(found)
    return out


def _reason_before(text: str, clauses: Sequence[tuple[int, int]], i: int,
                   cats: Sequence[str | None]) -> bool:
    """Whether the clause before clause i, in its sentence, names what the trouble is about
    (征地还差十几户，6月开工有难度)."""
    return bool(i) and not _SENTENCE_END.search(text, clauses[i - 1][1], clauses[i][0]) \
        and cats[i - 1] is not None


_WORDS = re.compile(r"[\u4e00-\u9fff]{2}")
_FULL_STOP = re.compile(r"[。！!]")


def _settled_after(text: str, blanked: str, clauses: Sequence[tuple[int, int]], i: int) -> bool:
    """Whether, later in clause i's sentence, a clause of its own says it is settled."""
    for j in (i + 1, i + 2, i + 3):
        if j >= len(clauses) or _SENTENCE_END.search(text, clauses[j - 1][1], clauses[j][0]):
            return False
        clause = blanked[clauses[j][0]:clauses[j][1]]
        if _SETTLED_CLAUSE.fullmatch(clause.strip()) or _BACK_TO_WORK.search(clause):
            return True  # (…进度滞后问题，已督促施工单位加人，目前已追回工期)
    return False


# A clause saying only that it is over: 已经解决了, 现已妥善处理, 问题已解决.
_SETTLED_CLAUSE = re.compile(
    r"(?:现|目前|现在)?(?:问题|困难)?(?:都|也)?已(?:经)?(?:于[^，,。；;]{0,10}?)?(?:全部|基本|彻底)?"
    r"(?:协调)?(?:解决|处理好|处理完|妥善处理|化解|整改到位|整改完毕|闭环|办结)(?:了)?"
    r"|(?:经[^，,。；;]{0,8})?(?:整改到位|已闭环|已办结)(?:了)?"
    # …，主要是客户排产调整，不是工程问题: said, after the reason, to need nothing
    r"|(?:这|但)?(?:也)?不是(?:工程|施工|项目|技术|质量|我们|我方)?(?:上|方面)?(?:的)?问题")


def _sections(text: str) -> list[tuple[int, int]]:
    """Where a form's problem section holds its items: from its label to the next label."""
    out = []
    for m in _SECTION_LABEL.finditer(text):
        eol = text.find("\n", m.end())
        eol = len(text) if eol < 0 else eol
        if text[m.end():eol].strip():
            # 存在问题：… on its own line, to the sentence after which one says no problem
            # (需协调问题：市政路没打通。其他正常推进，本月预计完成投资2亿元)
            end = eol
            for stop in _FULL_STOP.finditer(text, m.end(), eol):
                if not _ANY_PROBLEM.search(text, stop.end(), eol):
                    end = stop.start()
                    break
            out.append((m.end(), end))
            continue
        end = eol  # 存在问题： then numbered items, one a line
        while (item := _ITEM_LINE.match(text, end)) is not None:
            nl = text.find("\n", item.end())
            end = len(text) if nl < 0 else nl
        out.append((m.end(), end))
    return out


_AND = re.compile(r"和|及|以及|与|、|同时")


def _two_problems(text: str, blanked: str, cs: int, ce: int) -> list[IssueMention]:
    """主要困难是供电线路迁改进度慢和钢材价格上涨: two problems of different kinds joined in
    one clause are two issues (each side has its own problem word and category)."""
    clause = blanked[cs:ce]
    for m in _AND.finditer(clause):
        left, right = clause[:m.start()], clause[m.end():]
        a, b = _STRONG.search(left), _STRONG.search(right)
        if a is None and b is not None and 2 <= len(left.strip()) <= 6:
            # 资金和用地都很紧张: one problem word said of two things of different kinds.
            ca, cb = _category(left, len(left)), _category(right, b.start())
            if ca is not None and cb is not None and ca != cb:
                whole = text[cs:ce].strip()
                return [IssueMention(cs, ce, ca, whole), IssueMention(cs, ce, cb, whole)]
            continue
        if a is None or b is None:
            continue
        ca, cb = _category(left, a.start()), _category(right, b.start())
        if ca is None or cb is None or ca == cb:
            continue
        # The first issue starts after a lead-in (主要困难是): at its category word.
        lead = min(mm.start() for _n, p in _CATEGORIES for mm in [p.search(left)] if mm)
        return [IssueMention(cs + lead, cs + m.start(), ca,
                             text[cs + lead:cs + m.start()].strip()),
                IssueMention(cs + m.end(), ce, cb, text[cs + m.end():ce].strip())]
    return []


# Speed only (nlp.guard): these would otherwise be tried at every character of a clause.
_NEGATED, _STRONG, _UNDECIDED, _WEAK = map(guarded, (_NEGATED, _STRONG, _UNDECIDED, _WEAK))
_RESOLVED, _INLINE_ITEM = map(guarded, (_RESOLVED, _INLINE_ITEM))
_SECTION_LABEL, _NONE_SECTION, _LEAD_LABEL = map(guarded, (_SECTION_LABEL, _NONE_SECTION,
                                                           _LEAD_LABEL))
_CATEGORIES = tuple((name, guarded(pattern)) for name, pattern in _CATEGORIES)
_FUNDING = dict(_CATEGORIES)["funding"]
_ANY_CATEGORY = guarded(_ANY_CATEGORY)
