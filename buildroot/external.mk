include $(sort $(wildcard $(BR2_EXTERNAL_CELLBRIDGE_PATH)/package/*/*.mk))
