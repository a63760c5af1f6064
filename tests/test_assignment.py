"""Who owns a new ticket of a segment (domain.assignment)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.assignment import DEFAULT_ASSIGNMENT_MODE, AssignmentMode, Candidate, choose_owner

MANUAL = AssignmentMode.MANUAL
SINGLE = AssignmentMode.SINGLE_MANAGER
LEAST = AssignmentMode.LEAST_LOADED
ROUND = AssignmentMode.ROUND_ROBIN


def manager(
    username: str, open_tickets: int = 0, cap: int | None = None, available: bool = True
) -> Candidate:
    return Candidate(username=username, open_tickets=open_tickets, max_open_tickets=cap, available=available)


ANN, BOB, CAL = manager("ann"), manager("bob"), manager("cal")


def test_the_default_is_designs_single_manager_rule() -> None:
    assert DEFAULT_ASSIGNMENT_MODE is SINGLE


# --- manual ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("managers", [[], [ANN], [ANN, BOB]], ids=["none", "one", "two"])
def test_manual_leaves_every_ticket_unassigned(managers: list[Candidate]) -> None:
    assert choose_owner(MANUAL, managers) is None
    assert choose_owner(MANUAL, managers, previous_owner="ann") is None


# --- single manager -------------------------------------------------------------------------------


def test_single_manager_assigns_the_only_manager() -> None:
    assert choose_owner(SINGLE, [ANN]) == "ann"
    assert choose_owner(SINGLE, [manager("ann", open_tickets=4, cap=5)]) == "ann"


@pytest.mark.parametrize(
    "managers",
    [
        pytest.param([], id="no-manager"),
        pytest.param([ANN, BOB], id="two-managers"),
        # Several managers is a person's call even if only one is available today.
        pytest.param([ANN, manager("bob", available=False)], id="two-one-on-leave"),
        pytest.param([manager("ann", available=False)], id="only-manager-on-leave"),
        pytest.param([manager("ann", open_tickets=5, cap=5)], id="only-manager-at-cap"),
        pytest.param([manager("ann", cap=0)], id="only-manager-capped-at-zero"),
    ],
)
def test_single_manager_leaves_unassigned(managers: list[Candidate]) -> None:
    assert choose_owner(SINGLE, managers) is None


def test_single_manager_counts_a_username_listed_twice_once() -> None:
    assert choose_owner(SINGLE, [ANN, manager("ann", open_tickets=3)]) == "ann"


# --- least loaded ---------------------------------------------------------------------------------


def test_least_loaded_picks_the_fewest_open_tickets() -> None:
    managers = [manager("ann", 5), manager("bob", 2), manager("cal", 3)]
    assert choose_owner(LEAST, managers) == "bob"


def test_least_loaded_ties_go_to_the_first_username_whatever_the_list_order() -> None:
    assert choose_owner(LEAST, [manager("cal", 1), manager("bob", 1), manager("dan", 4)]) == "bob"
    assert choose_owner(LEAST, [manager("bob", 1), manager("cal", 1)]) == "bob"


def test_least_loaded_skips_managers_at_their_cap() -> None:
    # ann has the fewest but is full; a cap equal to the open count is full.
    managers = [manager("ann", 2, cap=2), manager("bob", 7), manager("cal", 6, cap=10)]
    assert choose_owner(LEAST, managers) == "cal"
    # One below the cap still takes one more.
    assert choose_owner(LEAST, [manager("ann", 1, cap=2), manager("bob", 3)]) == "ann"


def test_least_loaded_skips_unavailable_managers() -> None:
    managers = [manager("ann", 0, available=False), manager("bob", 9)]
    assert choose_owner(LEAST, managers) == "bob"


@pytest.mark.parametrize(
    "managers",
    [
        pytest.param([], id="no-manager"),
        pytest.param([manager("ann", 3, cap=3), manager("bob", 0, cap=0)], id="all-at-cap"),
        pytest.param([manager("ann", available=False), manager("bob", 1, cap=1)], id="on-leave-or-at-cap"),
    ],
)
def test_least_loaded_leaves_unassigned_when_nobody_fits(managers: list[Candidate]) -> None:
    assert choose_owner(LEAST, managers) is None


# --- round robin ----------------------------------------------------------------------------------


def test_round_robin_starts_with_the_first_username() -> None:
    assert choose_owner(ROUND, [CAL, ANN, BOB]) == "ann"


def test_round_robin_hands_out_in_username_order_and_wraps() -> None:
    managers = [CAL, ANN, BOB]
    owners: list[str] = []
    previous = None
    for _ in range(7):
        previous = choose_owner(ROUND, managers, previous_owner=previous)
        assert previous is not None
        owners.append(previous)
    assert owners == ["ann", "bob", "cal", "ann", "bob", "cal", "ann"]


def test_round_robin_skips_unavailable_and_capped_managers() -> None:
    managers = [ANN, manager("bob", available=False), manager("cal", 4, cap=4), manager("dan")]
    assert choose_owner(ROUND, managers, previous_owner="ann") == "dan"
    # Wrapping also skips: after dan, bob and cal are still out, so ann.
    assert choose_owner(ROUND, managers, previous_owner="dan") == "ann"
    assert choose_owner(ROUND, [manager("ann", available=False), BOB, CAL]) == "bob"


def test_round_robin_gives_the_only_eligible_manager_every_ticket() -> None:
    managers = [ANN, manager("bob", available=False)]
    assert choose_owner(ROUND, managers, previous_owner="ann") == "ann"


def test_round_robin_after_a_previous_owner_who_left_the_segment() -> None:
    # "bea" no longer manages it: the turn passes to the next name after hers.
    assert choose_owner(ROUND, [ANN, CAL], previous_owner="bea") == "cal"
    assert choose_owner(ROUND, [ANN, CAL], previous_owner="zoe") == "ann"


def test_round_robin_orders_usernames_ignoring_case() -> None:
    managers = [manager("Bob"), manager("ann"), manager("Cal")]
    assert choose_owner(ROUND, managers) == "ann"
    assert choose_owner(ROUND, managers, previous_owner="ann") == "Bob"
    assert choose_owner(ROUND, managers, previous_owner="Bob") == "Cal"
    assert choose_owner(ROUND, managers, previous_owner="Cal") == "ann"


@pytest.mark.parametrize(
    "managers",
    [
        pytest.param([], id="no-manager"),
        pytest.param([manager("ann", available=False), manager("bob", 2, cap=2)], id="nobody-fits"),
    ],
)
def test_round_robin_leaves_unassigned_when_nobody_fits(managers: list[Candidate]) -> None:
    assert choose_owner(ROUND, managers) is None
    assert choose_owner(ROUND, managers, previous_owner="ann") is None


# --- every mode -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(AssignmentMode))
def test_an_unavailable_manager_never_gets_a_ticket(mode: AssignmentMode) -> None:
    on_leave = manager("ann", available=False)
    assert choose_owner(mode, [on_leave]) is None
    assert choose_owner(mode, [on_leave], previous_owner="zed") is None


@pytest.mark.parametrize("mode", list(AssignmentMode))
def test_no_candidates_means_unassigned(mode: AssignmentMode) -> None:
    assert choose_owner(mode, []) is None


def test_a_mode_given_as_stored_text_works_and_an_unknown_one_is_refused() -> None:
    busy_ann = [manager("ann", 3), manager("bob", 1)]
    assert choose_owner("least_loaded", busy_ann) == "bob"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'busiest' is not a valid AssignmentMode"):
        choose_owner("busiest", [ANN])  # type: ignore[arg-type]


def test_candidate_counts_cannot_be_negative() -> None:
    with pytest.raises(ValidationError, match="open_tickets"):
        Candidate(username="ann", open_tickets=-1)
    with pytest.raises(ValidationError, match="max_open_tickets"):
        Candidate(username="ann", max_open_tickets=-1)
