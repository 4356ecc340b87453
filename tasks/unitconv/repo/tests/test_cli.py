from unitconv.cli import main


def test_cli_converts(capsys):
    assert main(["26.2", "mi", "km"]) == 0
    assert capsys.readouterr().out == "42.1648 km\n"


def test_cli_digits(capsys):
    assert main(["1", "h", "min", "--digits", "2"]) == 0
    assert capsys.readouterr().out == "60 min\n"


def test_cli_reports_unit_errors(capsys):
    assert main(["1", "km", "kg"]) == 2
    assert "cannot convert" in capsys.readouterr().err


def test_cli_list(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "length       mi     mile" in out
    assert "temperature  degC   degree Celsius" in out
