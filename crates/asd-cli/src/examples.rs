//! One worked example per subcommand, shown at the end of its `--help`.

/// (subcommand path, example lines).
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "train",
        "asd train --data DCASE2023/ --out models/m0 --seed 0 --epochs 10",
    ),
    (
        "embed",
        "asd embed --model models/m0 --data DCASE2023/ --out emb/m0\n  asd embed --model models/m0 --wave-npy waves.npy --out emb.npy",
    ),
    (
        "model import",
        "asd model import --torch-weights state_dict.safetensors --out models/ref --clip-seconds 10",
    ),
    (
        "run",
        "asd run --data DCASE2023/ --out runs/dcase2023\n  asd run --data DCASE2023/ --out runs/dcase2023 --config my.toml --seed 1",
    ),
    (
        "bench train",
        "asd bench train --batch 32 --clip-seconds 10 --steps 5",
    ),
    (
        "bench score",
        "asd bench score --n 1000,10000 --m 10000 --k 16",
    ),
    (
        "bench infer",
        "asd bench infer --model models/m0 --batch 1,32 --repeats 10",
    ),
    ("bench bank", "asd bench bank --n 10000 --k 16"),
    (
        "bench monitor",
        "asd bench monitor --clip-seconds 10 --clients 1,4,16",
    ),
    ("bench store", "asd bench store --scores 1000000"),
    (
        "bench startup",
        "asd bench startup --references 10000 --rebuild",
    ),
    ("report", "asd report runs/dcase2023"),
    (
        "score",
        "asd score --embeddings emb/m0 --method ratio_k16 --out scores/m0\n  asd score --embeddings emb/m0 --method ratio --gwrp 0.9 --out scores/m0",
    ),
    (
        "evaluate",
        "asd evaluate --scores scores/m0 --truth emb/m0/index.csv\n  asd evaluate --scores teams/mine --truth dcase2023_task2_evaluator/",
    ),
    (
        "synth",
        "asd synth --preset small --seed 0 --out data/synth",
    ),
    ("dataset inspect", "asd dataset inspect DCASE2023/"),
    ("demo", "asd demo\n  asd demo --reference"),
    (
        "monitor",
        "asd monitor --model models/m0 --store monitors --listen 127.0.0.1:8080\n  asd monitor --model models/m0 --store postgres://asd@db/asd --mqtt mqtt://broker:1883 --alert-webhook https://alerts.example/asd",
    ),
    (
        "monitor import",
        "asd monitor import --embeddings emb/m0 --model models/m0 --store monitors",
    ),
    (
        "monitor watch",
        "asd monitor watch recordings/ --monitor 1 --url http://127.0.0.1:8080",
    ),
];

/// Adds "Example:" to the help of every subcommand listed in [`EXAMPLES`].
pub fn attach(mut cmd: clap::Command) -> clap::Command {
    for (path, text) in EXAMPLES {
        cmd = attach_at(cmd, &path.split(' ').collect::<Vec<_>>(), text);
    }
    cmd
}

fn attach_at(cmd: clap::Command, path: &[&str], text: &'static str) -> clap::Command {
    match path {
        [] => cmd.after_help(format!("Example:\n  {text}")),
        [first, rest @ ..] => cmd.mut_subcommand(*first, |sub| attach_at(sub, rest, text)),
    }
}
