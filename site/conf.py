"""Sphinx configuration of the course website. Build it with `make site` (vae_course/teaching_site.py stages
the lessons next to this file first); nothing here is fetched from another host."""

project = "vae-course"
author = "the vae-course authors"
copyright = "the vae-course authors; code MIT, lesson text and figures CC BY 4.0"
html_title = "vae-course: variational autoencoders, hands on"

extensions = [
    "myst_nb",  # notebooks and Markdown pages
    "sphinx-mathjax-offline",  # MathJax 3 copied into _static/mathjax and loaded from there
]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# The lessons are committed executed: show their saved outputs, never run them again.
nb_execution_mode = "off"
# Widgets are turned into static frames before the build: no widget manager, so nothing from a CDN.
nb_ipywidgets_js = {}
nb_merge_streams = True

html_theme = "sphinx_book_theme"
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "home_page_in_toc": True,
}
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_show_sourcelink = False
html_last_updated_fmt = None
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["myst.header"]
