"""OpenComputer kernels: a whole notebook run in a sandbox, through Jupyter's kernel provisioner API.

``kernelspec`` writes the kernelspecs, ``provisioner`` is what Jupyter loads
for them, ``tunnel`` is the process it starts, and ``relay`` is its other end,
copied into the sandbox.
"""
