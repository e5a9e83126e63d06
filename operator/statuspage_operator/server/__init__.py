"""The public status page: HTML, Statuspage-compatible JSON, feeds and a badge, from memory.

`statuspage-server` watches our four kinds (read-only) into an in-memory cache and answers every
request from it: it never calls the API server while serving. Modules: `cache` (the objects, by
page), `watch` (list + watch feeding the cache), `view` (one page's model at an instant),
`statuspage_v2` (the JSON shapes), `html`, `feeds`, `badge`, `http` (the aiohttp app) and `main`.
"""
