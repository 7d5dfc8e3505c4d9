"""Sample text from a trained language model:
``python generate.py logs/.../checkpoints/best.ckpt --prompt "ROMEO:" --length 500``.

The same as ``zoo.load(checkpoint).generate(prompt, length, ...)`` in a notebook. A length over
100,000 tokens (``zoo.generation.MAX_LENGTH``), a negative temperature or one that is not finite,
a top-k below 1 or above the vocabulary's size: one ``error:`` line and exit status 1.
"""

from __future__ import annotations

import argparse
import sys


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a language model's .ckpt (or exported .safetensors)")
    parser.add_argument("--prompt", default="", help="text to continue (default: start of a line)")
    parser.add_argument("--length", type=int, default=500, help="tokens (characters or words) to sample, 0-100000")
    parser.add_argument("--temperature", type=float, default=0.8, help="softmax temperature >= 0; 0: the likeliest")
    parser.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest tokens (1 to all)")
    parser.add_argument("--seed", type=int, default=None, help="for the same text every time")
    parser.add_argument("--skip-unknown", action="store_true", help="drop prompt characters/words the model never saw")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    import zoo
    from zoo.errors import ZooError
    from zoo.generation import check_sampling

    try:
        check_sampling(arguments.length, arguments.temperature, arguments.top_k)  # before the model loads
        model = zoo.load(arguments.checkpoint, map_location=arguments.device)
        if not isinstance(model, zoo.TextGenerator):
            raise zoo.CheckpointError(f"{arguments.checkpoint} is not a language model: use evaluate.py for classifiers")
        text = model.generate(arguments.prompt, arguments.length, arguments.temperature, arguments.top_k,
                              seed=arguments.seed, on_unknown="skip" if arguments.skip_unknown else "error")  # fmt: skip
    except (ZooError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    print(text)


if __name__ == "__main__":
    main()
