"""What the tests share that is not a fixture: scripts they run and data they train on."""
