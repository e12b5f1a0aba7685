/* Charts of the dashboard: each <div data-chart="KIND"> is drawn from the JSON in the
   <script type="application/json" data-for="KIND"> beside it, with ECharts served by the
   program itself. Without JavaScript the tables beside the charts say the same. */
(function () {
  "use strict";
  var COLORS = { red: "#d7263d", orange: "#ef7d00", yellow: "#e0b000", green: "#2e9b4f" };
  var NAVY = "#17406f", RED_CN = "#b7191f", MUTED = "#5d6b7e";
  var FONT = { fontFamily: "PingFang SC, Microsoft YaHei, Noto Sans CJK SC, sans-serif" };
  // No animation: a leader glancing at a phone wants the figures at once.
  var BASE = { animation: false, textStyle: FONT };

  function num(v) { return v === null || v === undefined ? null : Number(v); }

  var builders = {
    lights: function (d) {
      return {
        tooltip: { trigger: "item", formatter: "{b}：{c} 个（{d}%）" },
        legend: { orient: "vertical", right: 8, top: "middle", itemWidth: 12, itemHeight: 12 },
        series: [{
          type: "pie", radius: ["48%", "78%"], center: ["38%", "50%"],
          label: { show: false }, avoidLabelOverlap: true,
          data: d.lights.map(function (x) {
            return { name: x.name, value: x.value, itemStyle: { color: COLORS[x.key] } };
          })
        }]
      };
    },
    departments: function (d) {
      var groups = d.groups.slice().reverse();
      return {
        grid: { left: 8, right: 40, top: 24, bottom: 8, containLabel: true },
        tooltip: {
          trigger: "axis", axisPointer: { type: "shadow" },
          formatter: function (ps) {
            var g = groups[ps[0].dataIndex];
            return g.name + "<br>完成 " + g.done + " / 计划 " + g.plan + " 亿元（" +
              (g.completion === null ? "—" : g.completion + "%") + "）";
          }
        },
        xAxis: { type: "value", axisLabel: { formatter: "{value}%" }, splitLine: { lineStyle: { color: "#eef1f5" } } },
        yAxis: { type: "category", data: groups.map(function (g) { return g.name; }),
                 axisLabel: { color: MUTED } },
        series: [{
          type: "bar", barMaxWidth: 16, name: "完成率",
          data: groups.map(function (g) {
            var v = num(g.completion);
            return { value: v === null ? 0 : v,
                     itemStyle: { color: v !== null && v >= d.elapsed ? NAVY : COLORS.orange } };
          }),
          label: { show: true, position: "right", formatter: "{c}%", color: MUTED, fontSize: 11 },
          markLine: {
            symbol: "none", lineStyle: { color: RED_CN, type: "dashed" },
            label: { formatter: "序时 " + d.elapsed + "%", color: RED_CN },
            data: [{ xAxis: d.elapsed }]
          }
        }]
      };
    },
    scores: function (d) {
      var entries = d.entries.slice().reverse();
      var MEDAL = { "金": "#d4a017", "银": "#9aa4ae", "铜": "#b06a36" };
      return {
        grid: { left: 8, right: 40, top: 8, bottom: 8, containLabel: true },
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: { type: "value", max: 100, splitLine: { lineStyle: { color: "#eef1f5" } } },
        yAxis: { type: "category", data: entries.map(function (e) { return e.name; }),
                 axisLabel: { color: MUTED } },
        series: [{
          type: "bar", name: "得分", barMaxWidth: 16,
          label: { show: true, position: "right", color: MUTED, fontSize: 11 },
          data: entries.map(function (e) {
            var color = MEDAL[e.medal] || (e.last ? COLORS.red : NAVY);
            return { value: e.score, itemStyle: { color: color } };
          })
        }]
      };
    },
    timeline: function (d) {
      var names = d.nodes.map(function (n) { return n.label; });
      function points(key) {
        return d.nodes.filter(function (n) { return n[key]; })
          .map(function (n) { return [n[key], n.label]; });
      }
      var spans = d.nodes.filter(function (n) { return n.planned && (n.actual || n.late); })
        .map(function (n) {
          return [{ coord: [n.planned, n.label] }, { coord: [n.actual || d.today, n.label],
            lineStyle: { color: n.late ? COLORS.red : COLORS.green } }];
        });
      return {
        grid: { left: 8, right: 24, top: 36, bottom: 8, containLabel: true },
        legend: { top: 0, data: ["计划", "实际", "原计划"] },
        tooltip: { trigger: "item", formatter: function (p) {
          return p.seriesName + " " + p.value[1] + "：" + p.value[0]; } },
        xAxis: { type: "time", splitLine: { show: true, lineStyle: { color: "#eef1f5" } },
                 axisLabel: { hideOverlap: true, formatter: "{yyyy}-{MM}" } },
        yAxis: { type: "category", data: names, inverse: true, axisLabel: { color: MUTED } },
        series: [
          { name: "计划", type: "scatter", symbol: "emptyCircle", symbolSize: 12,
            itemStyle: { color: NAVY, borderWidth: 2 }, data: points("planned"),
            markLine: { symbol: "none", silent: true, lineStyle: { width: 3, type: "solid" },
                        label: { show: false }, data: spans } },
          { name: "实际", type: "scatter", symbol: "circle", symbolSize: 11,
            itemStyle: { color: COLORS.green }, data: points("actual"),
            markLine: { symbol: "none", silent: true, lineStyle: { color: RED_CN, type: "dashed" },
                        label: { formatter: "今天", color: RED_CN }, data: [{ xAxis: d.today }] } },
          { name: "原计划", type: "scatter", symbol: "diamond", symbolSize: 9,
            itemStyle: { color: "#a9b4c2" }, data: points("original") }
        ]
      };
    },
    investment: function (d) {
      var months = d.months.map(function (m) { return m.month + "月"; });
      function series(key) { return d.months.map(function (m) { return num(m[key]); }); }
      return {
        grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
        legend: { top: 0 },
        tooltip: { trigger: "axis", valueFormatter: function (v) {
          return v === null || v === undefined ? "未报送" : v + " 亿元"; } },
        xAxis: { type: "category", data: months },
        yAxis: { type: "value", name: "亿元", splitLine: { lineStyle: { color: "#eef1f5" } } },
        series: [
          { name: "当月完成", type: "bar", barMaxWidth: 18, itemStyle: { color: "#7fa6d6" },
            data: series("amount") },
          { name: "累计完成", type: "line", symbolSize: 6, itemStyle: { color: NAVY },
            connectNulls: false, data: series("done") },
          { name: "序时计划", type: "line", symbol: "none",
            lineStyle: { type: "dashed", color: RED_CN }, itemStyle: { color: RED_CN },
            data: series("plan") }
        ]
      };
    }
  };

  function draw() {
    if (!window.echarts) { return; }
    var charts = [];
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var kind = el.getAttribute("data-chart");
      var src = document.querySelector('script[data-for="' + kind + '"]');
      if (!src || !builders[kind]) { return; }
      var chart = window.echarts.init(el, null, { renderer: "svg" });
      chart.setOption(Object.assign({}, BASE, builders[kind](JSON.parse(src.textContent))));
      charts.push(chart);
    });
    window.addEventListener("resize", function () {
      charts.forEach(function (c) { c.resize(); });
    });
    document.documentElement.setAttribute("data-charts", String(charts.length));
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
