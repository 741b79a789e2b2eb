"""Floor (a): a minimal Django project whose view verifies Meta's signature and INSERTs once."""
