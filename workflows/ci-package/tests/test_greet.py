import unittest

from greet import greet


class GreetTest(unittest.TestCase):
    def test_greet(self) -> None:
        self.assertEqual(greet("flowrun"), "hello, flowrun!")


if __name__ == "__main__":
    unittest.main()
