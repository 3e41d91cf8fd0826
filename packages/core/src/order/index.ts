export { type OrderInput, parseOrderFile, parseOrderInput } from "./input.js";
export {
  type ExecutionUnit,
  executionOrderIds,
  type OrderBlock,
  type OrderBundleItem,
  type OrderedUnit,
  OrderInputError,
  type OrderItem,
  type OrderTransaction,
  type OrderTransactionItem,
  orderUserBlockSlot,
  sortExecutionUnits,
} from "./order.js";
