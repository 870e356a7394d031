"""The study report: numbers (report.json, CSV), figures (PNG) and one offline HTML page."""
