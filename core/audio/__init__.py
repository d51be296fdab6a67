"""The music as numbers: decoding files to 22,050 Hz mono samples (``decode``), the official
90 Hz mel feature and its spectrogram (``mel``), running filters over 1-D signals (``filters``),
and decoding in a background process while PyTorch loads (``background_decoding``).

May import: errors, options, outputs.
"""
