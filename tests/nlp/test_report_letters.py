"""Reports written as letters to the office (关于…的报告, 一是…二是…, （一）…（二）…): the title,
numbered items and the lines saying all is well (our own sentences, not corpus lines)."""

from __future__ import annotations

import datetime as dt

from nlp.parser import Parser

SENT = dt.date(2023, 9, 1)


def issues(parser: Parser, text: str) -> list[tuple[str | None, str]]:
    result = parser.parse(text, sender=None, sent=SENT).to_json()["updates"]
    return [(u["project"], i["category"]) for u in result for i in u["issues"]]


def scopes(parser: Parser, text: str) -> list[str]:
    result = parser.parse(text, sender=None, sent=SENT).to_json()["updates"]
    return [i["scope"] for u in result for i in u["investment"]]


def test_a_title_naming_problems_is_no_problem(parser: Parser) -> None:
    text = "关于钢铁城项目用地问题的请示\n钢铁城二期还有2户未签订征收协议，影响场平。"
    assert issues(parser, text) == [("P007", "land")]
    assert issues(parser, "关于钢铁城项目存在问题的报告\n钢铁城本月完成投资500万元。") == []


def test_each_numbered_item_keeps_its_own_category(parser: Parser) -> None:
    text = "钢铁城存在的困难：（一）项目人手紧张；（二）规划调整手续尚未办结。"
    assert sorted(c for _p, c in issues(parser, text)) == ["approval", "other"]
    text = "钢铁城主要困难：一是银行贷款迟迟未放；二是进口钢材到货延迟。"
    assert sorted(c for _p, c in issues(parser, text)) == ["construction", "funding"]


def test_a_section_with_nothing_after_a_full_stop(parser: Parser) -> None:
    assert issues(parser, "钢铁城本月完成投资500万元。存在问题。暂无。") == []


def test_enough_of_something_is_no_problem(parser: Parser) -> None:
    assert issues(parser, "钢铁城目前劳务人员能够满足施工需要") == []
    assert issues(parser, "钢铁城劳务人员无法满足施工需要") == [("P007", "construction")]


def test_a_slow_procedure_and_the_reason_for_a_milestone_not_reached(parser: Parser) -> None:
    assert issues(parser, "钢铁城规划许可报批的流程太长") == [("P007", "approval")]
    text = "钢铁城二期还未开工，原因是施工图要重新送审。"
    assert [c for _p, c in issues(parser, text)] == ["approval"]


def test_what_the_problem_holds_up_stays_with_it(parser: Parser) -> None:
    text = "钢铁城征拆进度慢，还有几座坟没迁走，影响进场道路施工。"
    assert issues(parser, text) == [("P007", "land")]


def test_the_year_so_far(parser: Parser) -> None:
    assert scopes(parser, "钢铁城上半年完成投资3.2亿元") == ["year"]
    assert scopes(parser, "钢铁城今年共计完成投资3.2亿元") == ["year"]
    assert scopes(parser, "钢铁城开工以来共计完成投资3.2亿元") == ["cumulative"]


def test_a_line_announcing_problems_is_none_itself(parser: Parser) -> None:
    text = "钢铁城问题清单：1、二期用地还有5亩没清表；2、专项债资金还没拨付。"
    assert sorted(c for _p, c in issues(parser, text)) == ["funding", "land"]
    # announced, the problem after it is one however it is said
    assert issues(parser, "钢铁城本月有个问题，自来水主管要改线，报价太高") == [
        ("P007", "utilities")]


def test_roads_round_the_site_are_utilities_and_documents_approvals(parser: Parser) -> None:
    assert issues(parser, "钢铁城北侧规划路一直没修，大车进不来") == [("P007", "utilities")]
    assert issues(parser, "钢铁城人防手续要求补材料，材料还没齐") == [("P007", "approval")]


def test_a_problem_dealt_with_is_none(parser: Parser) -> None:
    assert issues(parser, "钢铁城之前的工资纠纷已经处理完了") == []
    assert issues(parser, "钢铁城停了两年终于复工") == []


def test_settled_later_in_the_sentence_and_a_holiday_stop(parser: Parser) -> None:
    assert issues(parser, "钢铁城前段时间反映的贷款问题，经银行对接，已经解决了") == []
    assert issues(parser, "钢铁城工地定在1月20日停工放假") == []
    assert issues(parser, "钢铁城问题清单：无。") == []


def test_a_section_on_one_line_ends_where_the_problems_do(parser: Parser) -> None:
    text = "钢铁城需协调问题：进场路还没打通。其他正常推进，本月完成投资500万元。"
    assert issues(parser, text) == [("P007", "utilities")]


def test_shortfalls_that_are_not_money(parser: Parser) -> None:
    assert issues(parser, "钢铁城劳务缺口还是很大") == [("P007", "construction")]
    assert issues(parser, "钢铁城排放总量指标缺口3吨，环评批不下来") == [("P007", "approval")]
    assert issues(parser, "钢铁城尾款还有300万没拨") == [("P007", "funding")]
