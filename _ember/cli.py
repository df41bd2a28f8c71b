"""The ``ember`` command.

    ember train lenet --dataset fashion-mnist --epochs 3     # train a zoo model, checkpoint it
    ember launch -n 2 train lenet --dataset fashion-mnist    # the same on 2 processes (data-parallel, MPI)
    ember tune lenet --dataset fashion-mnist --trials 8      # hyperparameter search (optuna): grid, random, TPE
    ember eval runs/lenet-fashion-mnist/checkpoint.safetensors
    ember sample runs/char-rnn-shakespeare/checkpoint.safetensors --prompt "ROMEO:"
    ember kernels                                            # which implementation serves each kernel
    ember bench [--only conv2d,softmax]                      # every kernel implementation vs PyTorch
    ember bench --models                                     # training throughput vs PyTorch
"""
import argparse
import os
import sys
import time


def _build(model_name, dataset_name, seed):
    """(recipe, train set, test set, model, model kwargs) for a zoo model on a dataset."""
    import ember

    from . import models, recipes
    recipe = recipes.recipe(dataset_name)
    train_set, test_set = recipe.load(True), recipe.load(False)
    kwargs = recipes.model_kwargs(model_name, recipe, train_set)
    ember.manual_seed(seed)
    return recipe, train_set, test_set, models.create(model_name, **kwargs), kwargs


def _train(args):
    import ember

    from . import recipes
    from .training import Trainer
    recipe, train_set, test_set, model, kwargs = _build(args.model, args.dataset, args.seed)
    optimizer_cls, lr, batch_size = recipes.DEFAULTS[args.model]
    optimizer_cls = recipes.OPTIMIZERS[args.optimizer] if args.optimizer else optimizer_cls
    lr, batch_size = args.lr or lr, args.batch_size or batch_size
    train_loader, test_loader = recipes.loaders(recipe, train_set, test_set, batch_size, args.seed,
                                                args.limit, args.augment)
    rank = 0
    if args.distributed:
        from .distributed.launch import setup_training
        rank, model, train_loader = setup_training(model, train_loader, args.seed, args.device)
    else:
        model.to(args.device)
    capturable = {"capturable": True} if args.cuda_graphs and optimizer_cls in (ember.optim.Adam, ember.optim.AdamW) \
        else {}
    optimizer = optimizer_cls(model.parameters(), lr=lr, **capturable)
    steps = args.epochs * len(train_loader)
    scheduler = ember.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps) \
        if args.schedule == "onecycle" else None
    out = args.out or os.path.join("runs", f"{args.model}-{args.dataset}")
    config = {"model": args.model, "model_kwargs": kwargs, "dataset": args.dataset, "lr": lr,
              "batch_size": batch_size, "optimizer": optimizer_cls.__name__, "seed": args.seed,
              "title": f"{args.model} on {args.dataset}"}
    if recipe.task == "language-model":
        config["vocab"] = "".join(train_set.vocab)
    trainer = Trainer(model, optimizer, scheduler, task=recipe.task, checkpoint_dir=out,
                      progress=not args.no_progress, config=config, step_scheduler_per_batch=True,
                      main_process=rank == 0, cuda_graphs=args.cuda_graphs)
    if rank != 0:  # the other ranks of a distributed run only train; rank 0 reports and evaluates
        print(f"training on {len(train_loader.sampler):,} samples per epoch, {train_loader.batch_size} per step")
        trainer.fit(train_loader, args.epochs, resume=args.resume)
        return 0
    print(f"{args.model} ({sum(p.numel() for p in model.parameters()):,} parameters) on {args.dataset}: "
          f"{len(train_loader.dataset):,} training / {len(test_loader.dataset):,} test samples, "
          f"{optimizer_cls.__name__} lr {lr}, batch {batch_size}, {args.epochs} epochs on {args.device}")
    start = time.perf_counter()
    trainer.fit(train_loader, args.epochs, test_loader, resume=args.resume)
    final = trainer.evaluate(test_loader)
    minutes = (time.perf_counter() - start) / 60
    if recipe.task == "language-model":
        print(f"test loss {final['loss']:.4f} nats/char, perplexity {final['perplexity']:.2f} "
              f"({minutes:.1f} min)")
    else:
        print(f"test accuracy: {final['accuracy']:.4f} ({minutes:.1f} min)")
    print(f"checkpoint: {trainer.checkpoint_path}\ncurves: {os.path.join(out, 'curves.png')}")
    if args.min_accuracy and final["accuracy"] < args.min_accuracy:
        return 1
    return 0


def _load_checkpoint(path):
    """The model a checkpoint holds, rebuilt from its config, and the whole checkpoint."""
    import ember

    from . import models
    state = ember.load(path)
    config = state["config"]
    model = models.create(config["model"], **config["model_kwargs"])
    model.load_state_dict(state["model"])
    return model.eval(), state


def _eval(args):
    from . import recipes
    from .training import Trainer
    model, state = _load_checkpoint(args.checkpoint)
    config = state["config"]
    recipe = recipes.recipe(args.dataset or config["dataset"])
    train_set, test_set = recipe.load(True), recipe.load(False)
    _, test_loader = recipes.loaders(recipe, train_set, test_set, config["batch_size"], 0)
    result = Trainer(model, None, task=recipe.task, progress=False).evaluate(test_loader)
    print(", ".join(f"{k} {v:.4f}" for k, v in result.items()))
    return 0


def _sample(args):
    import ember
    model, state = _load_checkpoint(args.checkpoint)
    vocab = state["config"].get("vocab")
    if vocab is None:
        print("ember sample needs a character model's checkpoint (char-rnn or gpt)", file=sys.stderr)
        return 2
    from .sampling import sample_text
    ember.manual_seed(args.seed)
    print(sample_text(model, vocab, args.prompt, args.length, args.temperature))
    return 0


def _kernels(args):
    import ember
    print(f"{'kernel':<26}{'device':<8}{'using':<8}others")
    for op, devices in ember.kernels.available().items():
        for device, entry in devices.items():
            others = [f"{name} ({state})" for name, state in entry["implementations"].items()
                      if name != entry["using"]]
            print(f"{op:<26}{device:<8}{entry['using'] or '-':<8}{'; '.join(others)}")
    print(f"\nOpenMP threads for ember's kernels: {ember.kernels.get_num_threads()}")
    return 0


def _bench(args):
    from .bench.command import main as bench_main
    return bench_main(args.rest)


def main(argv=None):
    from . import models, recipes
    parser = argparse.ArgumentParser(prog="ember", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a zoo model on a shipped dataset")
    train.add_argument("model", choices=list(models.MODELS))
    train.add_argument("--dataset", required=True, choices=list(recipes.DATASETS))
    train.add_argument("--epochs", type=int, default=3)
    train.add_argument("--batch-size", type=int, help="default: the model's (see ember.recipes)")
    train.add_argument("--lr", type=float, help="default: the model's")
    train.add_argument("--optimizer", choices=list(recipes.OPTIMIZERS), help="default: the model's")
    train.add_argument("--schedule", choices=["onecycle", "constant"], default="onecycle")
    train.add_argument("--augment", action="store_true", help="random crops of the training images")
    train.add_argument("--limit", type=int, help="train on the first N samples only (quick runs)")
    train.add_argument("--device", default="cpu")
    train.add_argument("--cuda-graphs", action="store_true",
                       help="on cuda, replay each training step from a CUDA graph (small models: fewer launches)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", help="checkpoint folder (default runs/MODEL-DATASET)")
    train.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    train.add_argument("--min-accuracy", type=float, default=0.0,
                       help="exit non-zero if the final test accuracy is below this")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    train.add_argument("--distributed", action="store_true",
                       help="one data-parallel rank of an MPI job (ember launch -n N train ... adds it): each of "
                            "the N processes takes batch-size // N samples per step, so the global batch is "
                            "--batch-size; rank 0 prints, evaluates and writes the checkpoint")
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("eval", help="evaluate a checkpoint on its test set")
    evaluate.add_argument("checkpoint")
    evaluate.add_argument("--dataset", help="default: the one it was trained on")
    evaluate.set_defaults(run=_eval)

    sample = commands.add_parser("sample", help="generate text from a character model")
    sample.add_argument("checkpoint")
    sample.add_argument("--prompt", default="\n")
    sample.add_argument("--length", type=int, default=500)
    sample.add_argument("--temperature", type=float, default=0.8)
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(run=_sample)

    kernels = commands.add_parser("kernels", help="which implementation serves each kernel, and why not the others")
    kernels.set_defaults(run=_kernels)

    from .tune.cli import add_parser as add_tune_parser
    add_tune_parser(commands)
    commands.add_parser("launch", help="run a command on N processes with MPI: ember launch -n 2 train ...",
                        add_help=False)

    bench = commands.add_parser("bench", help="race ember against PyTorch: kernels, --models, --ops",
                                add_help=False)
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(run=_bench)

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # its options are its own parser's (REMAINDER would not take "--only")
        return _bench(argparse.Namespace(rest=argv[1:]))
    if argv[:1] == ["launch"]:  # likewise: everything after -n N belongs to the launched command
        from .distributed.launch import launch
        return launch(argv[1:])
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
