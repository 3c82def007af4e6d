"""Exercise 1: fizzbuzz(n) returns the first n FizzBuzz words as a list of strings."""

from answer import fizzbuzz


def test_first_fifteen():
    assert fizzbuzz(15) == [
        "1",
        "2",
        "Fizz",
        "4",
        "Buzz",
        "Fizz",
        "7",
        "8",
        "Fizz",
        "Buzz",
        "11",
        "Fizz",
        "13",
        "14",
        "FizzBuzz",
    ]


def test_zero_gives_an_empty_list():
    assert fizzbuzz(0) == []


def test_multiples_of_both_come_first():
    assert fizzbuzz(30)[-1] == "FizzBuzz"
