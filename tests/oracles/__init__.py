"""Test oracles: literal ports of the peer R packages, used only to check production code."""
