"""The procedural conductor: textbook beat patterns on the beat, no weights. Its controls
(``style``), what each beat sounds like (``articulation``) and the conductor itself
(``conductor``).

May import: errors, options, outputs, audio, motion, beats.
"""
