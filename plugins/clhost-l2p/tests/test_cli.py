from clhost_pretrained.testing import run_offline


def test_clhost_run_with_a_local_vit_checkpoint_offline(pretrained_path, tmp_path):
    options = ["-p", "num_classes=6", "-p", "pool_size=10", "-p", "top_k=3", "-p", "lr=0.01"]
    results = run_offline("l2p", pretrained_path, tmp_path, *options, "--epochs", "3")
    assert results["average_accuracy"] > 0.45  # naive finetuning: about 0.3
    assert (tmp_path / "checkpoint.pt").exists()


def test_clhost_run_without_a_checkpoint_is_one_clear_error():
    from click.testing import CliRunner

    from clhost.cli import main

    arguments = ["run", "--strategy", "l2p", "--benchmark", "textures", "--model", "vit"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code != 0
    assert "pretrained=True needs pretrained_path" in result.output
    assert "Traceback" not in result.output
