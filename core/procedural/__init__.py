"""The procedural conductor: textbook beat patterns on the beat, no weights.

- ``conductor``: :func:`conduct` (music in, motion out) and :func:`draw_figure` (the figure from beats
  and loudness);
- ``style``: its controls; ``articulation``: how each beat is played, read from the signal;
- ``loudness``: the music's level per motion frame and where it stops;
- ``patterns``: the textbook beat patterns, where they stand, which one each beat is drawn in;
- ``planning``: the beat plan (each beat's ictus, rebound, size, hold and release);
- ``right_hand``: the baton's path, stroke by stroke; ``left_hand``: mirror, ask, calm, cue;
- ``body``: torso, shoulders and head around the hands;
- ``pose``: the figure's rest pose and proportions, and the arms as two bones;
- ``irregularity``: the seeded human irregularity, keyed to time.

Keypoints are the model's image coordinates (x, y in [0, 1], y down) at 30 fps; times in seconds.

May import: errors, options, outputs, audio, motion, beats.
"""
