"""Where the beats and bars fall: the :class:`~core.beats.track.BeatTrack` type (``track``), the
signal-processing tracker (``dsp_tracker``), the learned tracker (``activations`` -> ``decoding``
-> ``learned_tracker``), the switch between them (``tracking``), beat files (``grid``) and MIDI
files (``midi``).

May import: errors, options, outputs, installed_weights, audio.
"""
