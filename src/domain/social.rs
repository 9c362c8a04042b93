//! The relation between two users, seen from one of them, as one state
//! machine: none, request sent, request received, friends, blocking (I
//! blocked them) or blocked (they blocked me). Every action is checked here;
//! an illegal one is an error with a code, never a silent no-op.
//!
//! Invariant kept by the effects: a pair has at most one of {a pending
//! request, a friendship}, and none of them once either side blocks.

/// The relation from the viewer's side. Blocking outranks everything: a
/// block removes friendship and requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    None,
    RequestSent {
        request_id: i64,
    },
    RequestReceived {
        request_id: i64,
    },
    Friends,
    /// The viewer blocked the other (the other may have blocked back).
    Blocking,
    /// The other blocked the viewer.
    BlockedBy,
}

impl Relation {
    /// Builds the relation from what the database holds about the pair.
    pub fn from_facts(
        i_block: bool,
        they_block: bool,
        friends: bool,
        sent: Option<i64>,
        received: Option<i64>,
    ) -> Relation {
        if i_block {
            Relation::Blocking
        } else if they_block {
            Relation::BlockedBy
        } else if friends {
            Relation::Friends
        } else if let Some(request_id) = received {
            Relation::RequestReceived { request_id }
        } else if let Some(request_id) = sent {
            Relation::RequestSent { request_id }
        } else {
            Relation::None
        }
    }

    /// The name clients see (`GET /api/users/{id}` shows it).
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::None => "none",
            Relation::RequestSent { .. } => "request_sent",
            Relation::RequestReceived { .. } => "request_received",
            Relation::Friends => "friends",
            Relation::Blocking => "blocking",
            // The blocked side is not told: to them it looks like nothing.
            Relation::BlockedBy => "none",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SendRequest,
    /// Only the addressee accepts or declines, only the sender cancels.
    AcceptRequest {
        request_id: i64,
    },
    DeclineRequest {
        request_id: i64,
    },
    CancelRequest {
        request_id: i64,
    },
    Unfriend,
    Block,
    Unblock,
}

/// What to do to the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    CreateRequest,
    /// Accept their request (also when both asked): it goes, a friendship
    /// comes.
    AcceptRequest {
        request_id: i64,
    },
    DeleteRequest {
        request_id: i64,
    },
    RemoveFriendship,
    /// Insert the block and remove friendship and requests of the pair.
    Block,
    Unblock,
}

/// Why an action is refused. Each maps to a stable error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RelationError {
    #[error("a friend request to this user is already pending")]
    RequestAlreadySent,
    #[error("you are already friends")]
    AlreadyFriends,
    #[error("you are not friends")]
    NotFriends,
    #[error("you have blocked this user; unblock them first")]
    YouBlocked,
    /// Deliberately vague: the blocked side must not learn of the block.
    #[error("this action is not allowed")]
    NotAllowed,
    #[error("you have already blocked this user")]
    AlreadyBlocked,
    #[error("you have not blocked this user")]
    NotBlocked,
    #[error("no such friend request")]
    NoSuchRequest,
    #[error("only the addressee can accept or decline a request, only the sender can cancel it")]
    NotYourSide,
}

pub fn apply(relation: Relation, action: Action) -> Result<Effect, RelationError> {
    use Action as A;
    use Relation as R;
    match (relation, action) {
        (R::Blocking, A::Block) => Err(RelationError::AlreadyBlocked),
        (_, A::Block) => Ok(Effect::Block),
        (R::Blocking, A::Unblock) => Ok(Effect::Unblock),
        (_, A::Unblock) => Err(RelationError::NotBlocked),
        // Requests: the pending one of the pair must be the one named.
        (R::RequestReceived { request_id: r }, A::AcceptRequest { request_id })
            if r == request_id =>
        {
            Ok(Effect::AcceptRequest { request_id })
        }
        (R::RequestReceived { request_id: r }, A::DeclineRequest { request_id })
            if r == request_id =>
        {
            Ok(Effect::DeleteRequest { request_id })
        }
        (R::RequestSent { request_id: r }, A::CancelRequest { request_id }) if r == request_id => {
            Ok(Effect::DeleteRequest { request_id })
        }
        (
            R::RequestSent { request_id: r },
            A::AcceptRequest { request_id } | A::DeclineRequest { request_id },
        )
        | (R::RequestReceived { request_id: r }, A::CancelRequest { request_id })
            if r == request_id =>
        {
            Err(RelationError::NotYourSide)
        }
        (_, A::AcceptRequest { .. } | A::DeclineRequest { .. } | A::CancelRequest { .. }) => {
            Err(RelationError::NoSuchRequest)
        }
        (R::Blocking, _) => Err(RelationError::YouBlocked),
        (R::BlockedBy, A::SendRequest) => Err(RelationError::NotAllowed),
        (R::BlockedBy, A::Unfriend) => Err(RelationError::NotFriends),
        (R::None, A::SendRequest) => Ok(Effect::CreateRequest),
        (R::RequestSent { .. }, A::SendRequest) => Err(RelationError::RequestAlreadySent),
        (R::RequestReceived { request_id }, A::SendRequest) => {
            Ok(Effect::AcceptRequest { request_id })
        }
        (R::Friends, A::SendRequest) => Err(RelationError::AlreadyFriends),
        (R::Friends, A::Unfriend) => Ok(Effect::RemoveFriendship),
        (R::None | R::RequestSent { .. } | R::RequestReceived { .. }, A::Unfriend) => {
            Err(RelationError::NotFriends)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Relation; 6] = [
        Relation::None,
        Relation::RequestSent { request_id: 1 },
        Relation::RequestReceived { request_id: 2 },
        Relation::Friends,
        Relation::Blocking,
        Relation::BlockedBy,
    ];

    #[test]
    fn requests() {
        assert_eq!(
            apply(Relation::None, Action::SendRequest),
            Ok(Effect::CreateRequest)
        );
        assert_eq!(
            apply(
                Relation::RequestReceived { request_id: 9 },
                Action::SendRequest
            ),
            Ok(Effect::AcceptRequest { request_id: 9 })
        );
        assert_eq!(
            apply(Relation::RequestSent { request_id: 9 }, Action::SendRequest),
            Err(RelationError::RequestAlreadySent)
        );
        assert_eq!(
            apply(Relation::Friends, Action::SendRequest),
            Err(RelationError::AlreadyFriends)
        );
        assert_eq!(
            apply(Relation::BlockedBy, Action::SendRequest),
            Err(RelationError::NotAllowed)
        );
        assert_eq!(
            apply(Relation::Blocking, Action::SendRequest),
            Err(RelationError::YouBlocked)
        );
    }

    #[test]
    fn anyone_can_block_once_and_only_the_blocker_unblocks() {
        for relation in ALL {
            let block = apply(relation, Action::Block);
            if relation == Relation::Blocking {
                assert_eq!(block, Err(RelationError::AlreadyBlocked));
                assert_eq!(apply(relation, Action::Unblock), Ok(Effect::Unblock));
            } else {
                assert_eq!(block, Ok(Effect::Block));
                assert_eq!(
                    apply(relation, Action::Unblock),
                    Err(RelationError::NotBlocked)
                );
            }
        }
    }

    #[test]
    fn each_side_does_its_part_of_a_request() {
        let received = Relation::RequestReceived { request_id: 4 };
        let sent = Relation::RequestSent { request_id: 4 };
        assert_eq!(
            apply(received, Action::AcceptRequest { request_id: 4 }),
            Ok(Effect::AcceptRequest { request_id: 4 })
        );
        assert_eq!(
            apply(received, Action::DeclineRequest { request_id: 4 }),
            Ok(Effect::DeleteRequest { request_id: 4 })
        );
        assert_eq!(
            apply(sent, Action::CancelRequest { request_id: 4 }),
            Ok(Effect::DeleteRequest { request_id: 4 })
        );
        assert_eq!(
            apply(sent, Action::AcceptRequest { request_id: 4 }),
            Err(RelationError::NotYourSide)
        );
        assert_eq!(
            apply(received, Action::CancelRequest { request_id: 4 }),
            Err(RelationError::NotYourSide)
        );
        for relation in ALL {
            assert_eq!(
                apply(relation, Action::AcceptRequest { request_id: 99 }),
                Err(RelationError::NoSuchRequest)
            );
        }
    }

    #[test]
    fn only_friends_unfriend() {
        for relation in ALL {
            let result = apply(relation, Action::Unfriend);
            match relation {
                Relation::Friends => assert_eq!(result, Ok(Effect::RemoveFriendship)),
                Relation::Blocking => assert_eq!(result, Err(RelationError::YouBlocked)),
                _ => assert_eq!(result, Err(RelationError::NotFriends)),
            }
        }
    }

    #[test]
    fn blocking_outranks_everything_and_hides_from_the_blocked() {
        assert_eq!(
            Relation::from_facts(true, true, false, None, None),
            Relation::Blocking
        );
        assert_eq!(
            Relation::from_facts(false, true, true, Some(1), None),
            Relation::BlockedBy
        );
        assert_eq!(Relation::BlockedBy.as_str(), "none");
        assert_eq!(
            Relation::from_facts(false, false, false, Some(1), Some(2)),
            Relation::RequestReceived { request_id: 2 }
        );
    }
}
