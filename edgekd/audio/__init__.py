"""The keyword spotting feature front end: audio in, log-mel features out.

`frontend.py` is the executable definition of the fixed-point front end that the C runtime
implements bit-exactly (runtime_c/src/ekd_audio_frontend.c); `float_frontend.py` is the same
pipeline in floating point, for comparison; `c_tables.py` renders the constant tables the C
code compiles in; edgekd/verify/audio_frontend.py runs the C on the host.
"""
