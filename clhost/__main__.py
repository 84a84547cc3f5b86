"""``python -m clhost`` (and ``torchrun --nproc-per-node N -m clhost run ...``): the CLI."""

from clhost.cli import main

if __name__ == "__main__":
    main()
