"""What the tests share and are not tests themselves: checkers, input corpora, fixtures, helpers."""
