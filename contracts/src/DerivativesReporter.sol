// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentRole} from "./AgentRole.sol";

/// @title DerivativesReporter
/// @notice An append-only on-chain log of derivative trade reports keyed by UTI (unique trade
///         identifier, EMIR / CFTC vocabulary), with the life cycle new -> modify* -> cancel.
/// @dev Actions: 1 = new, 2 = modify, 3 = cancel (0 is rejected, so a caller that forgets
///      the action cannot file a report by accident). Counterparties are LEIs (20 ASCII
///      characters, left-aligned in bytes32); currency is the ISO 4217 code in bytes3; notional
///      is an integer in the currency's minor unit. A modify keeps the counterparties: a
///      trade between other parties is a different trade with its own UTI. A cancel ignores
///      the terms it is given and the event repeats the last reported terms, so every
///      TradeReported event carries a complete record. Nothing follows a cancel.
contract DerivativesReporter is AgentRole {
    uint8 public constant ACTION_NEW = 1;
    uint8 public constant ACTION_MODIFY = 2;
    uint8 public constant ACTION_CANCEL = 3;

    uint8 public constant STATE_NONE = 0;
    uint8 public constant STATE_LIVE = 1;
    uint8 public constant STATE_CANCELLED = 2;

    struct Trade {
        uint8 state;
        uint32 version;
        bytes3 currency;
        uint256 notional;
        bytes32 counterpartyA;
        bytes32 counterpartyB;
        string product;
    }

    mapping(bytes32 => Trade) private _trades;

    event TradeReported(
        bytes32 indexed uti,
        uint8 indexed action,
        address indexed reporter,
        uint32 version,
        string product,
        uint256 notional,
        bytes3 currency,
        bytes32 counterpartyA,
        bytes32 counterpartyB
    );

    error EmptyUti();
    error InvalidAction(uint8 action);
    error UtiAlreadyReported(bytes32 uti);
    error UnknownUti(bytes32 uti);
    error TradeCancelled(bytes32 uti);
    error EmptyProduct();
    error ZeroNotional();
    error InvalidCurrency();
    error InvalidCounterparties();
    error CounterpartiesChanged(bytes32 uti);

    function report(
        bytes32 uti,
        string calldata product,
        uint256 notional,
        bytes3 currency,
        bytes32 counterpartyA,
        bytes32 counterpartyB,
        uint8 action
    ) external onlyAgent {
        if (uti == bytes32(0)) revert EmptyUti();
        Trade storage t = _trades[uti];
        if (action == ACTION_NEW) {
            if (t.state != STATE_NONE) revert UtiAlreadyReported(uti);
            _checkTerms(product, notional, currency, counterpartyA, counterpartyB);
            t.state = STATE_LIVE;
            t.counterpartyA = counterpartyA;
            t.counterpartyB = counterpartyB;
            _storeTerms(t, product, notional, currency);
        } else if (action == ACTION_MODIFY) {
            _requireLive(t, uti);
            _checkTerms(product, notional, currency, counterpartyA, counterpartyB);
            if (counterpartyA != t.counterpartyA || counterpartyB != t.counterpartyB) {
                revert CounterpartiesChanged(uti);
            }
            _storeTerms(t, product, notional, currency);
        } else if (action == ACTION_CANCEL) {
            _requireLive(t, uti);
            t.state = STATE_CANCELLED;
        } else {
            revert InvalidAction(action);
        }
        t.version += 1;
        emit TradeReported(
            uti, action, msg.sender, t.version, t.product, t.notional, t.currency, t.counterpartyA, t.counterpartyB
        );
    }

    function getTrade(bytes32 uti) external view returns (Trade memory) {
        if (_trades[uti].state == STATE_NONE) revert UnknownUti(uti);
        return _trades[uti];
    }

    function _requireLive(Trade storage t, bytes32 uti) private view {
        if (t.state == STATE_NONE) revert UnknownUti(uti);
        if (t.state == STATE_CANCELLED) revert TradeCancelled(uti);
    }

    function _checkTerms(
        string calldata product,
        uint256 notional,
        bytes3 currency,
        bytes32 counterpartyA,
        bytes32 counterpartyB
    ) private pure {
        if (bytes(product).length == 0) revert EmptyProduct();
        if (notional == 0) revert ZeroNotional();
        if (currency == bytes3(0)) revert InvalidCurrency();
        if (counterpartyA == bytes32(0) || counterpartyB == bytes32(0) || counterpartyA == counterpartyB) {
            revert InvalidCounterparties();
        }
    }

    function _storeTerms(Trade storage t, string calldata product, uint256 notional, bytes3 currency) private {
        t.product = product;
        t.notional = notional;
        t.currency = currency;
    }
}
