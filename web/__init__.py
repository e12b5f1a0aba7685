"""The dashboard (一屏统览): aiohttp web server, Jinja2 pages, ECharts served locally."""
