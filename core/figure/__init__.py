"""Our own conductor figure as plain data: its bones (``rig``) and its body mesh (``mesh``),
built into Blender by the add-on (addon/conductor_body.py).

May import: errors.
"""
