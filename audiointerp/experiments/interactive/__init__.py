"""Per-clip views of the explain-and-score core: the illustration, the listening page, the explorer.

Modules
-------
clip
    :class:`ClipExplainer`: one clip through the core, as a grid would explain it.
illustrate
    :func:`illustrate_clip`: the paper-style figure, every version's audio, the listening page.
listening
    The self-contained HTML listening page.
figures
    Spectrogram / attribution plots with a Hz axis.
explorer, explorer_session, explorer_app
    The ipywidgets explorer (:class:`Explorer`) over an :class:`ExplorerSession` (its compute
    core), and the app notebook 07 and ``audiointerp explore`` build.
"""
