"""The web dashboard (`nas ui`) and the shareable HTML report (`nas report RUN --html`).

`payload` reads run directories through the archive's readers into JSON (read-only, bounded),
`server` serves it with the page's static files on 127.0.0.1, `report` writes the same run page as
one self-contained file. The page itself (`static/`) is plain JavaScript with Plotly.js taken from
the installed `plotly` package: no build step, nothing fetched from a CDN.
"""
